"""Every output is checked before anything connects; a write that fails (the file size limit)
is one line, exit 1, no spool left, the previous output kept; new files follow the umask."""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .clikit import run_cli
from .conftest import PgServer, free_port

PREVIOUS = b'{"kind":"database","name":"the last good output"}\n'


def _wide_sqlite(path: Path, tables: int = 900) -> Path:
    """A SQLite file whose JSONL output is ~1.8 MB (more than the spool's 1 MB buffer)."""
    with sqlite3.connect(path) as db:
        columns = ", ".join(
            f"column_number_{i} TEXT DEFAULT 'some default value'" for i in range(12)
        )
        for index in range(tables):
            db.execute(f"CREATE TABLE table_{index:04d} (id INTEGER PRIMARY KEY, {columns})")
    db.close()
    return path


def _workflow(tmp_path: Path, source: dict[str, Any], out: Path) -> Path:
    doc = {"source": source, "sink": {"type": "jsonl", "path": str(out)}}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _limited(limit: int, umask: int | None = None) -> Any:
    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        if umask is not None:
            os.umask(umask)

    return setup


def _ingest(
    tmp_path: Path, *args: str, limit: int = resource.RLIM_INFINITY, umask: int | None = None
) -> subprocess.CompletedProcess[str]:
    spool = tmp_path / "tmp"
    spool.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "metaingest", "ingest", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "TMPDIR": str(spool)},
        preexec_fn=_limited(limit, umask),
        check=False,
    )


@pytest.mark.parametrize("limit_kb", [512, 1536])
def test_the_file_size_limit_is_one_line_and_keeps_the_previous_output(
    tmp_path: Path, limit_kb: int
) -> None:
    """512 KB: the spool hits the limit; 1.5 MB: the spool fits, the published copy does not."""
    db = _wide_sqlite(tmp_path / "wide.db")
    out = tmp_path / "out.jsonl"
    out.write_bytes(PREVIOUS)
    workflow = _workflow(tmp_path, {"type": "sqlite", "path": str(db)}, out)
    result = _ingest(tmp_path, "-c", str(workflow), limit=limit_kb * 1024)
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("metaingest: error: "), lines
    assert "File too large" in lines[0]
    assert "Traceback" not in result.stderr and "ExceptionGroup" not in result.stderr
    assert out.read_bytes() == PREVIOUS
    assert list((tmp_path / "tmp").iterdir()) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == []
    if limit_kb != 512:
        return
    # and the same run without the limit publishes it all
    result = _ingest(tmp_path, "-c", str(workflow))
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 1536 * 1024


def _unreachable(port: int) -> dict[str, Any]:
    """A PostgreSQL source nothing listens for: connecting would fail with another error."""
    return {"type": "postgres", "host": "127.0.0.1", "port": port, "connect_timeout": 2}


@pytest.mark.parametrize("which", ["sink", "report", "log"])
def test_an_output_that_cannot_be_written_fails_before_connecting(
    tmp_path: Path, which: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    bad = blocker / "out"  # under a regular file: can never be created
    folder = tmp_path / "a-folder"
    folder.mkdir()
    out = folder if which == "sink" else tmp_path / "out.jsonl"  # a folder as target
    workflow = _workflow(tmp_path, _unreachable(free_port()), out)
    args = ["ingest", "-c", str(workflow)]
    if which == "report":
        args += ["--report", str(bad)]
    elif which == "log":
        args += ["--log-file", str(bad)]
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    expected = {
        "sink": f"metaingest: error: sink.path: {folder}: is a directory, not a file\n",
        "report": f"metaingest: error: --report: {bad}: {blocker} is a file, not a folder\n",
        "log": f"metaingest: error: --log-file: {bad}: {blocker} is a file, not a folder\n",
    }
    assert result.stderr == expected[which]  # not the connection error: nothing connected
    assert result.stdout == ""


@pytest.mark.postgres
def test_missing_folders_are_created_and_files_follow_the_umask(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    out = tmp_path / "new" / "deeper" / "out.jsonl"
    report = tmp_path / "reports" / "r.json"
    log = tmp_path / "logs" / "run.log"
    workflow = _workflow(tmp_path, postgres_server.source(pg_database), out)
    args = ["-c", str(workflow), "--report", str(report), "--log-file", str(log)]
    result = _ingest(tmp_path, *args, "--log-level", "info", umask=0o027)
    assert result.returncode == 0, result.stderr
    for path in (out, report, log):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640, path
    text = log.read_text(encoding="utf-8")
    # what a user can follow at info: the server, the discovery, the publish
    assert (
        f"connected to postgres at {postgres_server.host}:{postgres_server.port}: PostgreSQL"
        in text
    )
    assert "discovered 1 database(s) and " in text
    assert f"published {out}: 1 database(s), 1 schema(s), 0 table(s), 0 view(s)" in text
    assert "metaingest.runner" not in text  # per-unit lines stay at debug
