"""Publishing into the catalog store is atomic and serialized: kill -9, cancellation, two runs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from metaingest.connectors.base import Unit
from metaingest.errors import SinkError
from metaingest.store import open_store
from metaingest.store.bulk import Bulk
from metaingest.store.engine import Locked, connect_engine, describe, store_error
from metaingest.store.migrate import ensure_schema
from metaingest.store.rows import INSERT_ENTITY, LIVE_UNITS, Stored, stored_by_unit
from metaingest.workflow import Workflow

from .clikit import run_cli
from .conftest import PgServer
from .faultkit import pg_execute, run
from .storekit import changes_of, pg_store_database, pg_url, sqlite_url, store_config, summary

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

CATALOG = """
CREATE SCHEMA s1;
CREATE TABLE s1.t1 (a integer);
CREATE TABLE s1.t2 (a integer);
CREATE TABLE s1.t3 (a integer);
CREATE TABLE s1.t4 (a integer);
CREATE TABLE s1.t5 (a integer);
"""
CHANGE = "DROP TABLE s1.t5; ALTER TABLE s1.t1 ADD COLUMN b text; CREATE TABLE s1.t6 (a int);"

# A run in a subprocess that stops at a hook point (after its first batch is written, or
# just before COMMIT), says READY and waits to be killed.
KILLED_RUN = """
import sys, anyio
from metaingest.config import load_config
from metaingest.store.engine import Locked
from metaingest.store.publish import Publisher
from metaingest.workflow import Workflow

where = sys.argv[2]
write, commit = Publisher.write, Locked.commit

async def ready():
    print("READY", flush=True)
    await anyio.sleep(3600)

async def paused_write(self, batch):
    await write(self, batch)
    if where == "write":
        await ready()

async def paused_commit(self):
    if where == "commit":
        await ready()
    await commit(self)

Publisher.write, Locked.commit = paused_write, paused_commit
anyio.run(Workflow(load_config(sys.argv[1])).run)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "store.db")
        return
    server: PgServer = request.getfixturevalue("postgres_server")
    name = pg_store_database(server)
    try:
        yield pg_url(server, name)
    finally:
        server.drop_database(name)


async def state(url: str) -> tuple[Any, ...]:
    """Everything a reader sees: runs, changes, entities and their versions."""
    async with await open_store(url) as store:
        runs = [(r.id, r.status, dict(r.counts)) for r in await store.runs(100)]
        changes = [c.to_json() for c in await store.changes(since=0, recorded=True)]
        entities = [(e.fqn, e.version, e.content_hash) for e in await store.entities()]
        return runs, changes, entities


@pytest.mark.parametrize("where", ["write", "commit"])
async def test_kill_9_during_a_publish_leaves_the_previous_state(
    postgres_server: PgServer, pg_database: str, store_url: str, tmp_path: Path, where: str
) -> None:
    source = postgres_server.source(pg_database)
    config = store_config(source, store_url, delete_threshold=100)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(config)
    before = await state(store_url)
    await pg_execute(postgres_server, pg_database, CHANGE)

    workflow = tmp_path / "workflow.json"
    doc = {"source": source, "sink": {"type": "catalog", "url": store_url}}
    workflow.write_text(json.dumps({**doc, "workflow": {"delete_threshold": 100}}), "utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen(  # noqa: ASYNC220 - waited for in a worker thread
        [sys.executable, "-c", KILLED_RUN, str(workflow), where],
        stdout=subprocess.PIPE,
        env=env,
    )
    try:
        assert child.stdout is not None
        line = await anyio.to_thread.run_sync(child.stdout.readline)
        assert line == b"READY\n"
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert await state(store_url) == before

    report = await run(config)  # the store is usable again, and the lock free
    assert report.published
    db = f"pg.{pg_database}"
    assert summary(await changes_of(store_url), f"{db}.") == {
        ("s1.t1", "updated"),
        ("s1.t5", "deleted"),
        ("s1.t6", "added"),
    }


async def test_a_cancelled_run_and_a_run_below_its_threshold_publish_nothing(
    postgres_server: PgServer, pg_database: str, store_url: str
) -> None:
    config = store_config(postgres_server.source(pg_database), store_url, delete_threshold=100)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(config)
    before = await state(store_url)
    await pg_execute(postgres_server, pg_database, CHANGE)

    async def broken(unit: Unit, connection: Any, attempt: int) -> None:
        if unit.schema.name == "public":
            raise PermissionError("injected: cannot read public")

    report = await run(config, broken)  # success threshold 100 %: not met
    assert not report.published
    runs, changes, entities = await state(store_url)
    assert (changes, entities) == before[1:]
    assert runs[0][1] == "discarded" and runs[1:] == before[0]

    discarded = await state(store_url)
    with anyio.CancelScope() as scope:  # cancelled while its first batch is being written
        scope.cancel()
        await Workflow(config).run()
    assert await state(store_url) == discarded


async def test_two_runs_against_one_store_serialize(
    postgres_server: PgServer, pg_database: str, store_url: str
) -> None:
    config = store_config(postgres_server.source(pg_database), store_url, lock_timeout=60)
    await pg_execute(postgres_server, pg_database, CATALOG)
    reports = []

    async def one() -> None:
        reports.append(await run(config))

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)
    assert [r.published for r in reports] == [True, True]
    async with await open_store(store_url) as store:
        first, second = sorted(await store.runs(), key=lambda r: r.id)
        # the second run saw the first one's state whole: it added nothing
        assert first.counts["added"] == 8 and second.counts["added"] == 0
        assert second.counts["unchanged"] == 8


async def test_a_run_that_cannot_get_the_lock_fails_with_one_line(
    postgres_server: PgServer, pg_database: str, store_url: str, tmp_path: Path
) -> None:
    config = store_config(postgres_server.source(pg_database), store_url, lock_timeout=0.5)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(config)
    before = await state(store_url)
    engine = connect_engine(store_url)
    holder = Locked(engine, store_url, 5)
    await holder.begin()
    try:
        with pytest.raises(SinkError) as caught:
            await Workflow(config).run()
        workflow = tmp_path / "workflow.json"
        doc = {"source": postgres_server.source(pg_database), "sink": config.sink.model_dump()}
        doc["sink"]["url"] = store_url
        workflow.write_text(json.dumps(doc), encoding="utf-8")
        done = await anyio.to_thread.run_sync(run_cli, "ingest", "-c", str(workflow), "-q")
    finally:
        await holder.rollback()
        await engine.dispose()
    message = str(caught.value)
    assert "another run is publishing" in message and "sink.lock_timeout" in message
    assert "\n" not in message and "0.5 s" in message
    assert await state(store_url) == before
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "another run is publishing" in done.stderr


async def _in_a_store(url: str, body: Any) -> None:
    """Run ``body(bulk)`` in a locked transaction of a new store, then roll it back."""
    engine = connect_engine(url)
    lock = Locked(engine, url, 5)
    conn = await lock.begin()
    try:
        await ensure_schema(conn, url)
        await body(await Bulk.of(conn))
    finally:
        await lock.rollback()
        await engine.dispose()


def _entity(fqn: str, unit: str) -> dict[str, Any]:
    return {
        "fqn": fqn,
        "service": "svc",
        "kind": "table",
        "unit_fqn": unit,
        "is_view": False,
        "version": 1,
        "content": "{}",
        "content_hash": "h",
        "volatile_hash": "v",
        "first_seen_run": 1,
        "first_seen_at": "2026-01-01T00:00:00.000+00:00",
        "last_written_run": 1,
    }


async def test_stored_rows_are_read_for_any_number_of_units_in_one_statement(
    store_url: str,
) -> None:
    # more units than SQLite's former 999-variable limit and the former chunks of 500
    units = [f"svc.db.s{i}" for i in range(1500)]
    rows = [_entity(f"{unit}.t", unit) for unit in units]

    async def body(bulk: Bulk) -> None:
        await bulk.executemany(INSERT_ENTITY, rows)
        statement = stored_by_unit(bulk.sqlite)
        found = await bulk.fetch(statement, units[:1200])
        assert sorted(row[0] for row in found) == sorted(f"{u}.t" for u in units[:1200])
        assert [Stored._make(row).version for row in found] == [1] * 1200
        assert await bulk.fetch(statement, []) == []
        live = dict(await bulk.fetch(LIVE_UNITS, "svc"))
        assert len(live) == 1500 and set(live.values()) == {1}

    await _in_a_store(store_url, body)


async def test_a_driver_error_on_the_bulk_path_is_one_line_naming_the_store(
    store_url: str,
) -> None:
    async def body(bulk: Bulk) -> None:
        with pytest.raises(sa.exc.DBAPIError) as caught:
            await bulk.executemany(INSERT_ENTITY, [_entity("svc.db.s.t", "svc.db.s")] * 2)
        message = str(store_error(store_url, caught.value))
        assert message.startswith(f"catalog store {describe(store_url)}: ")
        assert "unique" in message.lower() or "duplicate" in message.lower()
        assert "\n" not in message

    await _in_a_store(store_url, body)
