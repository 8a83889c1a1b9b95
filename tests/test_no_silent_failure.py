"""No silent failure: -q still says why a run failed, ingest shows connection hints, an
interrupted summary tells the truth, errors are shown first, and a signal that lands during
the commit does not turn a published run into "interrupted"."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import metaingest
from metaingest.report import MAX_ISSUES, Report
from metaingest.summary import print_summary
from metaingest.workflow import Workflow

from .clikit import run_cli, write_workflow
from .conftest import PgServer, free_port
from .faultkit import config_of
from .faultproxy import FaultProxy


def _broken_views(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER)")
        db.execute("CREATE TABLE gone (id INTEGER)")
        db.execute("CREATE VIEW v1 AS SELECT id FROM gone")
        db.execute("CREATE VIEW v2 AS SELECT id FROM gone")
        db.execute("DROP TABLE gone")
    db.close()
    return path


def test_quiet_strict_failure_still_says_why(tmp_path: Path) -> None:
    db = _broken_views(tmp_path / "b.db")
    out = tmp_path / "out.jsonl"
    workflow = write_workflow(tmp_path / "w.yaml", {"type": "sqlite", "path": str(db)}, out)
    result = run_cli("ingest", "-c", str(workflow), "--strict", "-q")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        "metaingest: FAILED: nothing was published (2 warning(s) with --strict "
        f"(workflow.strict)): {out} keeps its previous content\n"
    )
    assert not out.exists()
    # without --strict the same run is published, and -q prints nothing at all
    result = run_cli("ingest", "-c", str(workflow), "-q")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert out.exists()


@pytest.mark.postgres
def test_ingest_shows_the_connection_hint(postgres_server: PgServer, tmp_path: Path) -> None:
    port = free_port()
    source = {"type": "postgres", "host": "127.0.0.1", "port": port, "connect_timeout": 5}
    workflow = write_workflow(tmp_path / "w.yaml", source, tmp_path / "o.jsonl")
    result = run_cli("ingest", "-c", str(workflow))
    assert result.returncode == 2
    *retries, last = result.stderr.splitlines()
    # discovery retries a refused connection (logged as warnings), then one error line
    assert all("retrying in" in line for line in retries)
    assert last.startswith("metaingest: error: ")
    assert last.endswith(f"(wrong port? nothing accepts connections at 127.0.0.1:{port})")


@pytest.mark.postgres
def test_sqlalchemy_hint_names_the_host_of_the_url(
    postgres_server: PgServer, tmp_path: Path
) -> None:
    port = free_port()
    url = f"postgresql+asyncpg://reader:pw@127.0.0.1:{port}/db"
    workflow = write_workflow(
        tmp_path / "w.yaml", {"type": "sqlalchemy", "url": url}, tmp_path / "o.jsonl"
    )
    for command in ("ingest", "test-connection"):
        result = run_cli(command, "-c", str(workflow))
        assert result.returncode == 2, result.stderr
        *retries, last = result.stderr.splitlines()
        assert all("retrying in" in line for line in retries), result.stderr
        assert last.startswith("metaingest: error: "), result.stderr
        assert f"nothing accepts connections at 127.0.0.1:{port})" in last, last
        assert "at sqlalchemy" not in last and "pw" not in result.stderr


def test_errors_are_shown_and_counted_first_after_a_thousand_warnings() -> None:
    report = Report(units_total=1, units_ok=1, discovery_done=True)
    for index in range(MAX_ISSUES):
        report.add_issue("warning", f"s.d.x.w{index}", "a broken view")
    report.add_issue("error", "s.d.x.broken", "cannot build entity")
    report.add_issue("warning", "s.d.x.late", "one more warning")
    assert [i.fqn for i in report.issues if i.level == "error"] == ["s.d.x.broken"]
    assert report.issues_dropped == 2
    out = io.StringIO()
    print_summary(report, out, target="o.jsonl")
    lines = out.getvalue().splitlines()
    heading = next(line for line in lines if line.startswith("issues ("))
    assert heading.startswith("issues (1 error(s), 1001 warning(s); first 20 shown, errors first")
    assert lines[lines.index(heading) + 1] == "  error: s.d.x.broken: cannot build entity"
    assert lines[1].split().index("errors") < lines[1].split().index("warnings")


@pytest.mark.postgres
@pytest.mark.anyio
async def test_interrupted_during_discovery_has_no_success_rate(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    async with FaultProxy(postgres_server.port) as proxy:
        proxy.blackhole_next()  # discovery's connection is accepted and never answered
        source = postgres_server.source(pg_database, port=proxy.port, connect_timeout=30)
        workflow = Workflow(config_of(source, tmp_path / "o.jsonl"))
        with anyio.move_on_after(1):
            await workflow.run()
    report = workflow.report
    assert report.cancelled and not report.discovery_done
    out = io.StringIO()
    print_summary(report, out, target="o.jsonl")
    lines = out.getvalue().splitlines()
    assert lines[0] == "metaingest: interrupted (threads 1)"
    cells = dict(zip(lines[1].split("  "), lines[2].split("  "), strict=False))
    values = lines[2].split()
    assert "-" in values and "%" not in lines[2], cells
    assert lines[-1] == (
        "nothing was published (the run was interrupted before discovery finished): "
        "o.jsonl keeps its previous content"
    )


_COMMIT_SIGNAL = """
import os, signal, sys
import anyio
import metaingest
from metaingest import cli
from metaingest.sinks import JsonlSink

class SlowCommit(JsonlSink):
    async def aclose(self, *, commit=False):
        if commit:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while the (shielded) commit runs
            await anyio.sleep(0.5)
        await super().aclose(commit=commit)

config = metaingest.load_config(sys.argv[1])
workflow = metaingest.Workflow(config, sink=SlowCommit(config.sink.path))
received = anyio.run(cli._ingest, workflow, None)
code = cli.exit_code(workflow.report, received)
metaingest.summary.print_summary(workflow.report, sys.stdout, target=str(config.sink.path))
print(received, code, workflow.report.published)
"""


@pytest.mark.postgres
def test_sigint_during_the_commit_exits_by_the_report(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    workflow = write_workflow(tmp_path / "w.yaml", postgres_server.source(pg_database), out)
    result = subprocess.run(
        [sys.executable, "-c", _COMMIT_SIGNAL, str(workflow)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == "2 0 True"  # SIGINT received, exit 0, published
    assert lines[0] == "metaingest: ok (threads 1)"
    assert lines[-2] == f"wrote {out}"
    assert out.exists()


def test_schema_into_a_closed_pipe_is_quiet() -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "metaingest", "schema"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.readline()  # as `head -1` does, then goes away
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        proc.wait(timeout=60)
    assert stderr == ""  # no BrokenPipeError traceback
    assert proc.returncode in (0, 141)  # 141 when the pipe broke, as `cat` would end


@pytest.mark.anyio
async def test_a_second_run_says_to_make_a_new_workflow(tmp_path: Path) -> None:
    db = _broken_views(tmp_path / "b.db")
    config = config_of({"type": "sqlite", "path": str(db)}, tmp_path / "o.jsonl")
    workflow = Workflow(config)
    assert (await workflow.run()).ok
    with pytest.raises(metaingest.MetaingestError, match=r"make a new Workflow\(config\)"):
        await workflow.run()
    with pytest.raises(metaingest.MetaingestError, match="has run already"):
        async with workflow.stream():
            pass


@pytest.mark.anyio
async def test_stream_takes_an_observer(tmp_path: Path) -> None:
    db = _broken_views(tmp_path / "b.db")
    config = config_of({"type": "sqlite", "path": str(db)}, tmp_path / "o.jsonl")
    seen: list[metaingest.Progress] = []
    async with metaingest.stream(config, observer=seen.append) as batches:
        names = [batch.schema.name async for batch in batches]
    assert names == ["main"]
    assert seen[-1].phase == "finished" and seen[-1].units_done == 1
    plan = await Workflow(config).dry_run()
    assert isinstance(plan.units[0], metaingest.DiscoveredUnit)
    assert isinstance(plan.databases[0], metaingest.DiscoveredDatabase)
