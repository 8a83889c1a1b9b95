"""A store written by schema version 1 is upgraded in place and stays readable and writable."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from metaingest.connectors.base import SchemaBatch
from metaingest.entities import Column, Database, DatabaseSchema, DataType, Table
from metaingest.errors import SinkError
from metaingest.sinks.catalog import CatalogSink
from metaingest.store import open_store
from metaingest.store.schema import SCHEMA_VERSION

from .storekit import sqlite_url

pytestmark = pytest.mark.anyio

FIXTURE = Path(__file__).parent / "fixtures" / "catalog_store_v1.sql"


def v1_store(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        conn.executescript(FIXTURE.read_text(encoding="utf-8"))
    conn.close()
    return sqlite_url(path)


async def test_a_version_1_store_is_upgraded_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    url = v1_store(path)
    async with await open_store(url) as store:
        runs = await store.runs()
        assert [(r.id, r.status) for r in runs] == [(2, "published"), (1, "published")]
        assert runs[0].units == {}  # version 1 did not record units
        changes = await store.changes(since=0)
        assert [(c.run, c.fqn, c.change) for c in changes] == [
            (1, "svc.d", "added"),
            (1, "svc.d.s", "added"),
            (1, "svc.d.s.t", "added"),
            (2, "svc.d.s.t", "updated"),
        ]
        assert changes[-1].breaking  # computed by the upgrade: a length went 40 -> 20
        assert not any(c.breaking for c in changes[:-1])
        assert [v.version for v in await store.history("svc.d.s.t")] == [1, 2]
        # --since: a run id (the runs after it), or a time (UTC unless it has an offset)
        assert [c.run for c in await store.changes(since=1)] == [2]
        assert [c.run for c in await store.changes(since="2026-11-30T10:30")] == [2]
        plus_two = datetime(2026, 11, 30, 12, 30, tzinfo=timezone(timedelta(hours=2)))
        assert [c.run for c in await store.changes(since=plus_two)] == [2]
        assert len(await store.changes(since="2026-11-30")) == 4
        assert await store.changes(since="2026-12-01T00:00") == []
        assert [c.fqn for c in await store.changes(since=0, fqn="svc.d.s.*")] == [
            "svc.d.s.t",
            "svc.d.s.t",
        ]
        (table,) = await store.entities("svc.d.s.t")
        assert table.last_seen_run == 2
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM store_meta").fetchall() == [(str(SCHEMA_VERSION),)]
        columns = {row[1] for row in conn.execute("PRAGMA table_info(entities)")}
        assert {"missing_since_run", "out_of_scope_run"} <= columns
        # version 3: the services each published run read, from runs.service
        published = conn.execute("SELECT run_id, service FROM run_services ORDER BY run_id")
        assert published.fetchall() == [(1, "svc"), (2, "svc")]
    conn.close()

    # and a run publishes into it as into a new store
    database = Database(name="d", service="svc")
    schema = DatabaseSchema(name="s", database=database.fqn)
    columns = (
        Column(name="id", ordinal_position=1, data_type=DataType.INT, data_type_display="integer"),
        Column(
            name="name",
            ordinal_position=2,
            data_type=DataType.VARCHAR,
            data_type_display="character varying(20)",
            data_length=20,
        ),
        Column(name="extra", ordinal_position=3, data_type=DataType.TEXT, data_type_display="text"),
    )
    sink = CatalogSink(url)
    await sink.write(
        SchemaBatch(
            database, schema, (Table(name="t", database_schema=schema.fqn, columns=columns),)
        )
    )
    await sink.aclose(commit=True)
    async with await open_store(url) as store:
        latest = await store.changes()
        updated = [c for c in latest if c.fqn == "svc.d.s.t"]
        assert [(c.run, c.change, c.version) for c in updated] == [(3, "updated", 3)]
        assert [f.name for f in updated[0].fields.added] == ["columns.extra"]
        assert not updated[0].breaking


async def test_a_store_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    url = v1_store(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE store_meta SET value = '99'")
    conn.close()
    with pytest.raises(SinkError, match="schema version 99 is newer"):
        await open_store(url)
