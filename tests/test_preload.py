"""A first run imports its driver's and its sink's libraries in a worker thread, not on the
event loop's: measured in a fresh interpreter, where nothing is imported yet."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from metaingest.config import parse_config
from metaingest.preload import modules_for

SCRIPT = textwrap.dedent(
    """
    import json, sys, threading
    WATCH = {"aiosqlite", "sqlalchemy.ext.asyncio", "metaingest.sinks.catalog",
             "metaingest.store.publish"}
    seen = {}

    class Spy:
        def find_spec(self, name, path=None, target=None):
            if name in WATCH and name not in seen:
                seen[name] = threading.current_thread() is threading.main_thread()
            return None

    sys.meta_path.insert(0, Spy())
    import anyio
    import metaingest
    from metaingest.config import parse_config

    config = parse_config(json.loads(sys.argv[1]))

    async def main():
        report = await metaingest.ingest(config)
        assert report.ok, report.issues

    anyio.run(main)
    print(json.dumps(seen))
    """
)


def test_a_first_run_imports_the_store_libraries_off_the_loop_thread(tmp_path: Path) -> None:
    source = tmp_path / "src.db"
    with sqlite3.connect(source) as conn:
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    config = {
        "source": {"type": "sqlite", "path": str(source)},
        "sink": {"type": "catalog", "url": f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"},
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    on_main = json.loads(done.stdout.strip().splitlines()[-1])
    # every watched module was imported during the run, and none on the loop's thread
    assert on_main == dict.fromkeys(
        ("aiosqlite", "sqlalchemy.ext.asyncio", "metaingest.sinks.catalog",
         "metaingest.store.publish"), False
    )  # fmt: skip


def test_modules_for_names_the_driver_the_sink_and_the_store_url() -> None:
    config = parse_config(
        {
            "source": {"type": "postgres", "host": "h", "include_lineage": True},
            "sink": {"type": "catalog", "url": "sqlite+aiosqlite:///x.db"},
        }
    )
    modules, urls = modules_for(config)
    assert modules == [
        "asyncpg",
        "metaingest.connectors.postgres",
        "metaingest.lineage.resolve",
        "metaingest.sinks.catalog",
    ]
    assert urls == ["sqlite+aiosqlite:///x.db"]
