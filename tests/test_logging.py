"""Logging options: JSON lines that parse, the unit's FQN on its records, no secret anywhere."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from metaingest.logs import configure_logging, redact_handlers
from metaingest.redact import Redactor

from .clikit import run_cli, write_workflow
from .conftest import PgServer, unique_name

PASSWORD = "mi-pw-" + unique_name("")


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers[:]:
        root.removeHandler(handler)
        handler.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.mark.postgres
def test_json_log_file_parses_and_never_holds_the_password(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    # A schema whose name holds the password puts the secret into messages and FQNs.
    postgres_server.run(
        pg_database,
        f'CREATE SCHEMA "s_{PASSWORD}"',
        f'CREATE TABLE "s_{PASSWORD}".t (id int)',
        "CREATE TABLE public.t (id int)",
    )
    url = f"postgresql://{postgres_server.user}:{PASSWORD}@127.0.0.1:{postgres_server.port}"
    source = {"type": "postgres", "url": f"{url}/{pg_database}", "service_name": "pg"}
    workflow = write_workflow(tmp_path / "pg.yaml", source, tmp_path / "out.jsonl")
    log_file = tmp_path / "run.log"
    result = run_cli(
        "ingest",
        "-c",
        str(workflow),
        "-q",
        "--log-level",
        "debug",
        "--log-format",
        "json",
        "--log-file",
        str(log_file),
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    lines = log_file.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records
    for line, record in zip(lines, records, strict=True):
        assert PASSWORD not in line
        assert {"timestamp", "level", "logger", "message"} <= set(record)
        assert record["timestamp"].endswith("Z")
    units = [r for r in records if r["logger"] == "metaingest.runner" and "fqn" in r]
    assert {r["fqn"] for r in units} == {f"pg.{pg_database}.public", f"pg.{pg_database}.s_***"}
    assert all(r["level"] == "debug" and r["message"].endswith(": 1 tables") for r in units)


def test_text_and_json_formats_redact_message_extras_and_tracebacks(
    restore_logging: None,
) -> None:
    log = logging.getLogger("metaingest.test")
    for fmt in ("text", "json"):
        handler = configure_logging("info", fmt)  # type: ignore[arg-type]
        assert isinstance(handler, logging.StreamHandler)
        out = io.StringIO()
        handler.setStream(out)
        redact_handlers(Redactor(["hunter2"]))
        sys.stderr, saved = out, sys.stderr  # the handler follows sys.stderr
        try:
            log.info("connecting with %s", "hunter2", extra={"fqn": "svc.db.hunter2"})
            try:
                raise ValueError("password hunter2 rejected")
            except ValueError:
                log.exception("failed", extra={"fqn": "svc.db.s"})
            log.debug("not shown at info")
        finally:
            sys.stderr = saved
        text = out.getvalue()
        assert "hunter2" not in text
        assert "not shown" not in text
        if fmt == "json":
            first, second = (json.loads(line) for line in text.splitlines())
            assert first["message"] == "connecting with ***"
            assert (first["fqn"], first["level"]) == ("svc.db.***", "info")
            assert "ValueError: password *** rejected" in second["exception"]
        else:
            assert "INFO metaingest.test: connecting with ***" in text
            assert "ValueError: password *** rejected" in text


def test_log_file_that_cannot_be_opened_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "run.log"  # a folder that cannot exist: its parent is a file
    result = run_cli("ingest", "-c", "x.yaml", "--log-file", str(target))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"metaingest: error: --log-file: {target}: {blocker} is a file, not a folder\n"
    )


def test_log_file_folders_are_created(tmp_path: Path) -> None:
    target = tmp_path / "logs" / "deep" / "run.log"
    result = run_cli("ingest", "-c", "x.yaml", "--log-file", str(target))
    assert result.returncode == 2  # the workflow file does not exist; the log file does
    assert result.stderr == "metaingest: error: x.yaml: no such file\n"
    assert target.is_file()
