"""Bring your own sink: the README's SQLite upsert sink, and sinks that fail on write, on
commit and on discard — one SinkError each (never a group), the previous state untouched."""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import metaingest
from metaingest.workflow import Workflow

from .conftest import PgServer
from .faultkit import Hooked, config_of, pg_execute

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def _readme_sink() -> type[Any]:
    """The README's example sink, executed as it is printed there."""
    match = re.search(r"```python\n(import sqlite3\n.*?)```", README, re.S)
    assert match, "the README's sink example is missing"
    namespace: dict[str, Any] = {}
    exec(compile(match.group(1), "README.md", "exec"), namespace)
    sink: type[Any] = namespace["SqliteCatalogSink"]
    return sink


SqliteCatalogSink = _readme_sink()


class FailingOnWrite(SqliteCatalogSink):  # type: ignore[misc, valid-type]
    async def write(self, batch: metaingest.SchemaBatch) -> None:
        await super().write(batch)
        if batch.schema.name == "s1":
            raise OSError(28, "No space left on device")


class FailingOnCommit(SqliteCatalogSink):  # type: ignore[misc, valid-type]
    async def aclose(self, *, commit: bool = False) -> None:
        if commit:
            raise RuntimeError("the application's database is locked")
        await super().aclose(commit=commit)


class FailingOnDiscard(SqliteCatalogSink):  # type: ignore[misc, valid-type]
    async def aclose(self, *, commit: bool = False) -> None:
        await super().aclose(commit=commit)
        if not commit:
            raise RuntimeError("cannot release the application's lock")


@pytest.fixture(scope="module")
def catalog(postgres_server: PgServer) -> Iterator[str]:
    name = postgres_server.create_database()
    script = ";\n".join(
        f"CREATE SCHEMA s{s}; CREATE TABLE s{s}.t{s} (id int PRIMARY KEY, v text)" for s in range(3)
    )
    try:
        anyio.run(pg_execute, postgres_server, name, script)
        yield name
    finally:
        postgres_server.drop_database(name)


def _rows(path: Path) -> list[tuple[str, int]]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT fqn, columns FROM tables ORDER BY fqn").fetchall()
    db.close()
    return rows


@pytest.fixture
def app_db(tmp_path: Path) -> Path:
    """The application's database, holding the state of a previous run."""
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE tables (fqn TEXT PRIMARY KEY, columns INT)")
        db.execute("INSERT INTO tables VALUES ('pg.old.public.t', 7)")
    db.close()
    return path


async def test_the_readme_sink_upserts_on_commit(
    postgres_server: PgServer, catalog: str, app_db: Path, tmp_path: Path
) -> None:
    config = config_of(postgres_server.source(catalog), tmp_path / "unused.jsonl")
    report = await metaingest.ingest(config, sink=SqliteCatalogSink(str(app_db)))
    assert (report.ok, report.published) == (True, True)
    assert _rows(app_db) == sorted(
        [("pg.old.public.t", 7), *[(f"pg.{catalog}.s{s}.t{s}", 2) for s in range(3)]]
    )
    assert not (tmp_path / "unused.jsonl").exists()  # the config's sink is not used


@pytest.mark.parametrize(
    ("sink", "message"),
    [
        (FailingOnWrite, r"sink FailingOnWrite: write of pg\.\w+\.s1 failed: OSError: "),
        (FailingOnCommit, "sink FailingOnCommit: commit failed: RuntimeError: the application's"),
        (FailingOnDiscard, "sink FailingOnDiscard: discard failed: RuntimeError: cannot release"),
    ],
)
async def test_a_failing_sink_is_one_sink_error_and_keeps_the_previous_state(
    postgres_server: PgServer,
    catalog: str,
    app_db: Path,
    tmp_path: Path,
    sink: type[Any],
    message: str,
) -> None:
    async def fail_s2(unit: Any, connection: Any, attempt: int) -> None:
        if unit.schema.name == "s2":
            raise ValueError("s2 cannot be read")

    config = config_of(postgres_server.source(catalog), tmp_path / "o.jsonl", retries=0)
    # FailingOnDiscard fails only when discarding: a run below its threshold discards
    connector = Hooked(config, fail_s2) if sink is FailingOnDiscard else None
    before = _rows(app_db)
    workflow = Workflow(config, connector, sink=sink(str(app_db)))
    with pytest.raises(metaingest.SinkError) as caught:  # not an exception group
        await workflow.run()
    assert re.match(message, str(caught.value)), str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.__cause__ is not None
    assert _rows(app_db) == before
    assert workflow.report.published is False


async def test_a_sink_failing_on_discard_of_a_cancelled_run_lets_the_cancel_through(
    postgres_server: PgServer,
    catalog: str,
    app_db: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Slow(FailingOnDiscard):  # type: ignore[misc, valid-type]
        async def write(self, batch: metaingest.SchemaBatch) -> None:
            await super().write(batch)
            await anyio.sleep(30)  # cancelled here

    config = config_of(postgres_server.source(catalog), tmp_path / "o.jsonl")
    before = _rows(app_db)
    workflow = Workflow(config, sink=Slow(str(app_db)))
    with caplog.at_level(logging.ERROR, "metaingest"), anyio.move_on_after(2) as scope:
        await workflow.run()
    assert scope.cancelled_caught  # the caller's cancellation came back, not a sink error
    assert workflow.report.cancelled and not workflow.report.published
    assert _rows(app_db) == before
    assert any("discard failed" in r.getMessage() for r in caplog.records)


async def test_ingest_raises_a_sink_error_not_a_group_for_a_jsonl_sink(
    postgres_server: PgServer, catalog: str, tmp_path: Path
) -> None:
    """The JSONL sink's own errors: a target whose folder vanished between check and commit."""
    folder = tmp_path / "gone"
    out = folder / "o.jsonl"
    config = config_of(postgres_server.source(catalog), out)

    class Vanishing(metaingest.sinks.JsonlSink):  # type: ignore[misc, name-defined]
        async def write(self, batch: metaingest.SchemaBatch) -> None:
            await super().write(batch)
            if folder.is_dir():
                folder.rmdir()
                folder.write_text("now a file", encoding="utf-8")

    with pytest.raises(metaingest.SinkError, match="cannot write"):
        await metaingest.ingest(config, sink=Vanishing(out))
    assert folder.read_text(encoding="utf-8") == "now a file"
