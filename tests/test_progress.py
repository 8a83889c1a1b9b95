"""Progress: the observer hook, the live display in a pseudo-terminal, periodic log lines."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from metaingest.config import WorkflowConfig, parse_config
from metaingest.display import LiveDisplay
from metaingest.observe import Progress
from metaingest.workflow import Workflow

from .conftest import PgServer

ROOT = Path(__file__).resolve().parents[1]
MANY = 40  # schemas in the PostgreSQL database of the display tests
CLI = (sys.executable, "-m", "metaingest", "ingest")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def many_schemas_script(count: int) -> str:
    return f"""
        DO $$ BEGIN FOR i IN 1..{count} LOOP
          EXECUTE format('CREATE SCHEMA s%s', i);
          EXECUTE format('CREATE TABLE s%s.t (id int PRIMARY KEY, name text)', i);
          EXECUTE format('CREATE VIEW s%s.v AS SELECT id FROM s%s.t', i, i);
        END LOOP; END $$;
    """


@pytest.fixture(scope="module")
def many_db(postgres_server: PgServer) -> Iterator[str]:
    """A PostgreSQL database with MANY schemas (plus public), each one table and one view."""
    name = postgres_server.create_database()
    try:
        postgres_server.run(name, many_schemas_script(MANY))
        yield name
    finally:
        postgres_server.drop_database(name)


def pg_workflow_file(server: PgServer, database: str, root: Path, threads: int = 2) -> Path:
    path = root / "pg.yaml"
    path.write_text(
        json.dumps(
            {
                "source": server.source(database, threads=threads),
                "sink": {"type": "jsonl", "path": str(root / "out.jsonl")},
            }
        ),
        encoding="utf-8",
    )
    return path


def demo_config(root: Path) -> WorkflowConfig:
    sys.path.insert(0, str(ROOT / "examples"))
    from build_demo import build

    build(root / "demo")
    return parse_config(
        {
            "source": {
                "type": "sqlite",
                "path": str(root / "demo" / "shop.db"),
                "attach": {
                    "people": str(root / "demo" / "people.db"),
                    "warehouse": str(root / "demo" / "warehouse.db"),
                },
                "threads": 2,
            },
            "sink": {"type": "jsonl", "path": str(root / "o.jsonl")},
        }
    )


@pytest.mark.anyio
async def test_observer_sees_every_change_and_ends_at_100_percent(tmp_path: Path) -> None:
    seen: list[Progress] = []
    workflow = Workflow(demo_config(tmp_path), observer=seen.append)
    report = await workflow.run()
    assert report.ok
    assert seen[0].phase == "discovering"
    assert seen[-1].phase == "finished"
    assert (seen[-1].units_done, seen[-1].units_total, seen[-1].fraction) == (3, 3, 1.0)
    assert seen[-1].tables == report.tables + report.views == 10
    assert seen[-1].in_flight == ()
    done = [p.units_done for p in seen]
    assert done == sorted(done)  # never goes backwards
    assert max(len(p.in_flight) for p in seen) <= 2  # threads
    assert any(p.in_flight for p in seen)
    assert workflow.progress().phase == "finished"


@pytest.mark.anyio
async def test_a_failing_observer_is_dropped_and_the_run_goes_on(tmp_path: Path) -> None:
    calls = 0

    def broken(progress: Progress) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("observer bug")

    report = await Workflow(demo_config(tmp_path), observer=broken).run()
    assert report.ok and report.tables == 8
    assert calls == 1
    assert (tmp_path / "o.jsonl").exists()


def run_in_pty(args: list[str], cwd: Path, columns: int = 160) -> tuple[int, str]:
    """Run ``python -m metaingest ARGS`` with stdout and stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": str(columns)}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "metaingest", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    code = proc.wait(timeout=60)
    return code, b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.postgres
def test_live_display_in_a_terminal(
    postgres_server: PgServer, many_db: str, tmp_path: Path
) -> None:
    workflow = pg_workflow_file(postgres_server, many_db, tmp_path)
    code, output = run_in_pty(["ingest", "-c", str(workflow)], tmp_path)
    assert code == 0, output
    plain = ANSI.sub("", output)
    total = MANY + 1  # and public
    assert "\x1b[" in output  # drawn with terminal control sequences
    assert "discovering databases and schemas" in plain  # the first frame, before any unit
    assert f"{total}/{total} units" in plain
    assert "100 %" in plain
    assert f"{2 * MANY} tables" in plain  # MANY tables and MANY views
    assert "tables/s" in plain
    # the summary follows the display, as a table
    assert "metaingest: ok" in plain
    assert re.search(r"schemas\s+" + str(total), plain)
    assert "peak conn" in plain


def test_quiet_shows_neither_progress_nor_summary_in_a_terminal(tmp_path: Path) -> None:
    config = demo_config(tmp_path)
    path = tmp_path / "demo.yaml"
    path.write_text(json.dumps(config.model_dump(mode="json")), encoding="utf-8")
    code, output = run_in_pty(["ingest", "-c", str(path), "-q"], tmp_path)
    assert (code, output) == (0, "")


def locked_demo(tmp_path: Path) -> tuple[Path, sqlite3.Connection]:
    """The demo's workflow file, and a connection holding an exclusive lock on its main file:
    discovery waits (SQLite's busy timeout) until the test lets it go."""
    config = demo_config(tmp_path)
    data: dict[str, Any] = config.model_dump(mode="json")
    data["source"]["connect_timeout"] = 60
    path = tmp_path / "demo.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    lock = sqlite3.connect(tmp_path / "demo" / "shop.db", isolation_level=None)
    lock.execute("BEGIN EXCLUSIVE")
    return path, lock


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_periodic_progress_lines_without_a_terminal(tmp_path: Path, log_format: str) -> None:
    path, lock = locked_demo(tmp_path)
    proc = subprocess.Popen(
        [*CLI, "-c", str(path), "--progress-interval", "0.05", "--log-format", log_format],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()  # written while discovery waits for the lock
    finally:
        lock.execute("COMMIT")
        lock.close()
    out, rest = proc.communicate(timeout=60)
    assert proc.returncode == 0, rest
    if log_format == "json":
        record = json.loads(first)
        assert (record["logger"], record["level"]) == ("metaingest.progress", "info")
        assert record["message"].startswith("progress: 0/0 units")
        assert record["units_total"] == 0
        for line in rest.splitlines():
            assert json.loads(line)["logger"] == "metaingest.progress"
    else:
        assert "INFO metaingest.progress: progress: 0/0 units (0 %)" in first
        assert "discovering" in first
    assert "metaingest: ok" in out
    assert "\x1b[" not in out + first + rest  # no terminal codes when not on a terminal


def test_quiet_without_a_terminal_prints_no_progress(tmp_path: Path) -> None:
    path, lock = locked_demo(tmp_path)
    proc = subprocess.Popen(
        [*CLI, "-c", str(path), "-q", "--progress-interval", "0.01"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)  # still held by the lock: that is all this waits for
    finally:
        lock.execute("COMMIT")
        lock.close()
    out, err = proc.communicate(timeout=60)
    assert (proc.returncode, out, err) == (0, "", "")


def test_progress_interval_must_be_positive(tmp_path: Path) -> None:
    path, lock = locked_demo(tmp_path)
    lock.execute("COMMIT")
    lock.close()
    result = subprocess.run(
        [*CLI, "-c", str(path), "--progress-interval", "0"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (result.returncode, result.stderr) == (
        2,
        "metaingest: error: --progress-interval: must be > 0\n",
    )


def test_live_display_starts_no_refresh_thread() -> None:
    """The display is drawn from the run's own task; rich's auto-refresh thread stays off."""
    # threads other tests left behind (a Dask client's offload thread) are not the display's
    before = {thread.name for thread in threading.enumerate()}
    with open(os.devnull, "w", encoding="utf-8") as devnull:
        display = LiveDisplay(Console(file=devnull, force_terminal=True))
        with display:
            display(Progress("extracting", 3, 1, 0, 5, 1.0, ("a.b.c",)))
            display.draw()
            names = [t.name for t in threading.enumerate() if t.name not in before]
    assert names == [], names
