"""What is published when: a run below its threshold, or with nothing to extract, keeps the
previous output byte for byte, removes its spool and says so (real PostgreSQL)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from metaingest.summary import print_summary
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .faultkit import Hooked, config_of, pg_execute

pytestmark = pytest.mark.postgres

PREVIOUS = b'{"kind":"database","name":"the last good output"}\n'


@pytest.fixture(scope="module")
def catalog(postgres_server: PgServer) -> Iterator[str]:
    """Three schemas of one table each."""
    name = postgres_server.create_database()
    script = ";\n".join(
        f"CREATE SCHEMA s{s}; CREATE TABLE s{s}.t (id int PRIMARY KEY)" for s in range(3)
    )
    try:
        anyio.run(pg_execute, postgres_server, name, script)
        yield name
    finally:
        postgres_server.drop_database(name)


def _cli(
    tmp_path: Path, source: dict[str, Any], *args: str, **workflow: Any
) -> subprocess.CompletedProcess[str]:
    """Run ingest with its own TMPDIR (to see its spool), a previous output in place."""
    out = tmp_path / "out.jsonl"
    out.write_bytes(PREVIOUS)
    doc = {"source": source, "sink": {"type": "jsonl", "path": str(out)}, "workflow": workflow}
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(doc), encoding="utf-8")
    spool = tmp_path / "tmp"
    spool.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(spool)}
    return subprocess.run(
        [sys.executable, "-m", "metaingest", "ingest", "-c", str(tmp_path / "w.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def _untouched(tmp_path: Path) -> None:
    assert (tmp_path / "out.jsonl").read_bytes() == PREVIOUS
    assert list((tmp_path / "tmp").iterdir()) == []  # no spool left behind
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.jsonl")] == []


def test_every_schema_timing_out_keeps_the_previous_output(
    postgres_server: PgServer, catalog: str, tmp_path: Path
) -> None:
    source = postgres_server.source(catalog, unit_timeout=0.000001)
    result = _cli(tmp_path, source, retries=0)
    assert result.returncode == 1, result.stderr
    _untouched(tmp_path)
    assert "metaingest: FAILED" in result.stdout
    line = result.stdout.splitlines()[-1]
    assert line == (
        "nothing was published (success 0.0 % is below workflow.success_threshold 100 % "
        f"(4 of 4 schema(s) failed)): {tmp_path / 'out.jsonl'} keeps its previous content"
    )


def test_a_partly_failed_run_below_the_threshold_is_not_published(
    postgres_server: PgServer, catalog: str, tmp_path: Path
) -> None:
    async def fail_s1(unit: Any, connection: Any, attempt: int) -> None:
        if unit.schema.name == "s1":
            raise ValueError("s1 cannot be read")

    out = tmp_path / "out.jsonl"
    out.write_bytes(PREVIOUS)
    config = config_of(postgres_server.source(catalog), out, retries=0, success_threshold=90)
    workflow = Workflow(config, connector=Hooked(config, fail_s1))
    report = anyio.run(workflow.run)
    assert (report.ok, report.published, report.units_ok) == (False, False, 3)  # s0, s2 and public
    assert out.read_bytes() == PREVIOUS
    text = tmp_path / "summary.txt"
    with text.open("w", encoding="utf-8") as summary:
        print_summary(report, summary, target=str(out))
    lines = text.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "metaingest: FAILED (threads 1)"
    assert lines[-1].startswith("nothing was published (success 75.0 % is below")
    # at its threshold the same run is published, without the failed schema
    config = config_of(postgres_server.source(catalog), out, retries=0, success_threshold=60)
    report = anyio.run(Workflow(config, connector=Hooked(config, fail_s1)).run)
    assert (report.ok, report.published) == (True, True)
    assert b'"name":"s1"' not in out.read_bytes() and b'"name":"s2"' in out.read_bytes()


def test_a_run_with_nothing_to_extract_fails_in_one_line(
    postgres_server: PgServer, catalog: str, tmp_path: Path
) -> None:
    source = postgres_server.source(catalog, schema_filter={"includes": ["^sales$"]})
    result = _cli(tmp_path, source)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "metaingest: error: nothing to extract: discovered 1 database(s) and 7 schema(s): "
        "source.schema_filter dropped 7 (7 matches no include pattern) "
        "(set workflow.allow_empty: true if an empty run is expected)\n"
    )
    _untouched(tmp_path)
    # the schemas discovered, with the system schemas' own default excludes
    database = postgres_server.source(database_filter={"includes": [f"^{unique_name()}$"]})
    result = _cli(tmp_path, database)
    assert result.returncode == 1
    assert re.search(
        r"discovered \d+ database\(s\) and 0 schema\(s\): source.database_filter"
        r" dropped \d+ \(\d+ matches no include pattern\)",
        result.stderr,
    )
    _untouched(tmp_path)


def test_allow_empty_publishes_an_empty_run(
    postgres_server: PgServer, catalog: str, tmp_path: Path
) -> None:
    source = postgres_server.source(catalog, schema_filter={"includes": ["^sales$"]})
    result = _cli(tmp_path, source, allow_empty=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.jsonl").read_bytes() == b""
    assert result.stdout.splitlines()[-1] == f"wrote {tmp_path / 'out.jsonl'}"


def test_readme_says_what_is_published_when() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    exit_codes = readme.index("| exit code | meaning |")
    paragraph = readme.index("**What is published when.**")
    assert abs(paragraph - exit_codes) < 2500
