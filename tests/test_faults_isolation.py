"""A table that cannot be built is that table's error; its siblings still arrive; and a
relation that goes missing without an issue is caught by the per-unit accounting."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metaingest.config import WorkflowConfig
from metaingest.connectors import mysql as mysql_module
from metaingest.connectors import sqlite as sqlite_module
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.connectors.sql import queries
from metaingest.connectors.sqlite import SqliteConnector
from metaingest.report import Report
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, quote_mysql
from .faultkit import config_of, pg_execute, run

pytestmark = pytest.mark.anyio


def assert_isolated(report: Report, bad: str, schema: str, delivered: int) -> None:
    """One error for the bad table, none for the schema, the siblings delivered."""
    assert [(i.level, i.fqn) for i in report.issues] == [("error", bad)]
    assert "cannot build entity" in report.issues[0].message
    unit = next(u for u in report.units if u.fqn == schema)
    assert (unit.status, unit.delivered, unit.failed) == ("ok", delivered, 1)
    assert unit.discovered == delivered + 1
    assert report.units_partial == 1
    assert report.success_pct < 100 and report.exit_code() == 1


class _Corrupting:
    """An asyncpg connection whose ``columns`` rows for table ``t1`` carry a bad value."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def transaction(self, **kw: Any) -> Any:
        return self._inner.transaction(**kw)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        rows = [dict(r) for r in await self._inner.fetch(sql, *args)]
        if sql == queries("postgres")["columns"]:
            t1 = await self._inner.fetchval("SELECT $1::regclass::oid", f"{args[0][0]}.t1")
            for row in rows:
                if row["relid"] == t1 and row["name"] == "b":
                    row["name"] = None  # a column must have a name
        return rows


class CorruptPg(PostgresConnector):
    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        return await super().extract(unit, _Corrupting(connection))


@pytest.fixture
def pg_catalog(postgres_server: PgServer, pg_database: str) -> str:
    import anyio

    script = "CREATE SCHEMA s; " + " ".join(
        f"CREATE TABLE s.t{i} (a int PRIMARY KEY, b text);" for i in range(4)
    )
    anyio.run(pg_execute, postgres_server, pg_database, script)
    return pg_database


@pytest.mark.postgres
async def test_postgres_bad_row_fails_only_its_table(
    postgres_server: PgServer, pg_catalog: str, tmp_path: Path
) -> None:
    source = postgres_server.source(pg_catalog, schema_filter={"includes": ["^s$"]})
    config = config_of(source, tmp_path / "o.jsonl")
    report = await Workflow(config, connector=CorruptPg(config.source)).run()  # type: ignore[arg-type]
    assert_isolated(report, f"pg.{pg_catalog}.s.t1", f"pg.{pg_catalog}.s", 3)
    assert not (tmp_path / "o.jsonl").exists()  # below the threshold: nothing published
    config = config_of(source, tmp_path / "o.jsonl", success_threshold=0)
    report = await Workflow(config, connector=CorruptPg(config.source)).run()  # type: ignore[arg-type]
    assert report.published
    text = (tmp_path / "o.jsonl").read_text(encoding="utf-8")
    assert '"name":"t0"' in text and '"name":"t1"' not in text


@pytest.fixture
def maria_schema(mysql_server: MysqlServer) -> Iterator[str]:
    (name,) = mysql_server.create_schemas(1)
    db = quote_mysql(name)
    try:
        mysql_server.run(*(f"CREATE TABLE {db}.t{i} (a INT PRIMARY KEY)" for i in range(4)))
        yield name
    finally:
        mysql_server.drop_schemas([name])


@pytest.mark.mysql
async def test_mysql_bad_row_fails_only_its_table(
    mysql_server: MysqlServer,
    maria_schema: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetch = mysql_module._fetch

    async def corrupt(connection: Any, name: str, *args: Any) -> list[dict[str, Any]]:
        rows = [dict(r) for r in await fetch(connection, name, *args)]
        for row in rows:
            if name == "constraints" and row["table_name"] == "t2":
                row["constraint_type"] = "EXCLUSION"  # a kind this code does not know
        return rows

    monkeypatch.setattr(mysql_module, "_fetch", corrupt)
    source = mysql_server.source(schema_filter={"includes": [f"^{maria_schema}$"]})
    report = await run(config_of(source, tmp_path / "o.jsonl"))
    schema = f"maria.default.{maria_schema}"
    assert_isolated(report, f"{schema}.t2", schema, 3)
    assert "EXCLUSION" in report.issues[0].message


def sqlite_config(tmp_path: Path, script: str) -> WorkflowConfig:
    db = tmp_path / "c.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(script)
    conn.close()
    source = {"type": "sqlite", "path": str(db), "service_name": "lite"}
    return config_of(source, tmp_path / "o.jsonl")


FOUR_TABLES = " ".join(f"CREATE TABLE t{i} (a INTEGER PRIMARY KEY, b TEXT);" for i in range(4))


async def test_sqlite_bad_row_fails_only_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch = sqlite_module._fetch

    def corrupt(conn: sqlite3.Connection, name: str, *args: Any, **kw: Any) -> Any:
        rows = fetch(conn, name, *args, **kw)
        if name == "columns":
            rows = [(*r[:2], None, *r[3:]) if r[0] == "t3" else r for r in rows]  # name None
        return rows

    monkeypatch.setattr(sqlite_module, "_fetch", corrupt)
    report = await run(sqlite_config(tmp_path, FOUR_TABLES))
    assert_isolated(report, "lite.c.main.t3", "lite.c.main", 3)


async def test_a_relation_lost_without_an_issue_is_an_error(tmp_path: Path) -> None:
    config = sqlite_config(tmp_path, FOUR_TABLES)

    class Lossy(SqliteConnector):
        async def extract(self, unit: Unit, connection: sqlite3.Connection) -> SchemaBatch:
            batch = await super().extract(unit, connection)
            return dataclasses.replace(batch, tables=batch.tables[1:])  # t0 silently gone

    report = await Workflow(config, connector=Lossy(config.source)).run()  # type: ignore[arg-type]
    assert [(i.level, i.fqn, i.message) for i in report.issues] == [
        (
            "error",
            "lite.c.main",
            "4 relations listed but 3 delivered, 0 filtered and 0 reported: 1 unaccounted for",
        )
    ]
    assert report.exit_code() == 1


async def test_filtered_and_broken_relations_are_accounted_for(tmp_path: Path) -> None:
    script = FOUR_TABLES + "CREATE TABLE gone (x); CREATE VIEW v AS SELECT x FROM gone;"
    config = sqlite_config(tmp_path, script + "DROP TABLE gone;")
    data = config.model_dump(mode="python")
    data["source"]["table_filter"] = {"excludes": ["^t0$"]}
    report = await run(config_of(data["source"], tmp_path / "o.jsonl"))
    assert [(i.level, i.fqn) for i in report.issues] == [("warning", "lite.c.main.v")]
    (unit,) = report.units
    assert (unit.discovered, unit.delivered, unit.filtered, unit.failed) == (5, 3, 1, 1)
    assert report.ok and report.errors == 0
