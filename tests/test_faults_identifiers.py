"""Hostile identifiers round-trip byte-exactly into entities, FQNs and filters.

Quotes, backslashes, dots, spaces, newlines, ``%``, semicolons, non-ASCII, emoji, reserved
words and maximum-length names, in database (PostgreSQL), schema, table and column names.
MariaDB 10.11 keeps its catalog in utf8mb3, so it rejects emoji (4-byte characters) in
identifiers and names cannot end with a space: its list uses what the server accepts.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig
from metaingest.entities import Table, split_fqn
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, quote_mysql, unique_name
from .faultkit import config_of, pg_execute, pg_ident

pytestmark = pytest.mark.anyio

COMMON = [
    'dou"ble',
    "sin'gle",
    "back\\slash",
    "dot.ted",
    "with space",
    "new\nline",
    "per%cent_",
    "semi;colon",
    "ünïcødé",
    "select",
    "user",
]
PG_NAMES = [*COMMON, '"lead', "emoji😀", "x" * 63, "é" * 31 + "z"]  # 63 bytes each
MARIA_NAMES = [*COMMON, "back`tick", "x" * 64, "é" * 64]  # 64 characters
SQLITE_NAMES = [*COMMON, '"lead', "emoji😀", "tab\there", "x" * 200]
SERVICE = "svc.1"


async def collect(config: WorkflowConfig, database: str) -> list[tuple[str, list[Table]]]:
    """(schema name, tables) for every batch, checking every FQN splits into its parts."""
    out = []
    with anyio.fail_after(45):
        async with Workflow(config).stream() as batches:
            async for batch in batches:
                db, schema = batch.database.name, batch.schema.name
                assert db == database
                assert split_fqn(batch.schema.fqn) == [SERVICE, db, schema]
                for table in batch.tables:
                    assert split_fqn(table.fqn) == [SERVICE, db, schema, table.name]
                out.append((schema, list(batch.tables)))
    return out


def check_catalog(
    found: list[tuple[str, list[Table]]], schemas: list[str], names: list[str]
) -> None:
    assert sorted(s for s, _ in found) == sorted(schemas)
    for _schema, tables in found:
        assert sorted(t.name for t in tables) == sorted(names)
        for table in tables:
            assert [c.name for c in table.columns] == names  # byte-exact, in order
            (pk,) = table.constraints
            assert pk.columns == (names[0],)


def only(names: list[str]) -> dict[str, list[str]]:
    return {"includes": ["^" + re.escape(n) + "$" for n in names]}


async def check_filters(
    source: dict[str, Any], schemas: list[str], names: list[str], out: Path, database: str
) -> None:
    source = {
        **source,
        "schema_filter": only(schemas[1:2]),
        "table_filter": {**only(names[:4]), "excludes": ["^" + re.escape(names[2]) + "$"]},
    }
    found = await collect(config_of(source, out), database)
    assert [s for s, _ in found] == [schemas[1]]
    assert sorted(t.name for t in found[0][1]) == sorted([names[0], names[1], names[3]])


def create_table(quote: Any, schema: str, table: str, names: list[str], kind: str) -> str:
    cols = ", ".join(f"{quote(n)} {kind}" for n in names)
    return f"CREATE TABLE {quote(schema)}.{quote(table)} ({cols}, PRIMARY KEY ({quote(names[0])}))"


@pytest.fixture
def pg_hostile(postgres_server: PgServer) -> Iterator[str]:
    suffix = ' "q\\.;%é😀\n'
    name = unique_name()
    name += "_" * (63 - len((name + suffix).encode()))  # exactly 63 bytes
    name += suffix
    postgres_server.run("postgres", f"CREATE DATABASE {pg_ident(name)}")
    try:
        yield name
    finally:
        postgres_server.run("postgres", f"DROP DATABASE IF EXISTS {pg_ident(name)} WITH (FORCE)")


@pytest.mark.postgres
async def test_postgres_hostile_identifiers(
    postgres_server: PgServer, pg_hostile: str, tmp_path: Path
) -> None:
    schemas = [PG_NAMES[0], PG_NAMES[5], PG_NAMES[-1]]
    script = [f"CREATE SCHEMA {pg_ident(s)}" for s in schemas] + [
        create_table(pg_ident, s, t, PG_NAMES, "int") for s in schemas for t in PG_NAMES
    ]
    await pg_execute(postgres_server, pg_hostile, ";\n".join(script))
    source = postgres_server.source(
        pg_hostile,
        service_name=SERVICE,
        schema_filter={"excludes": ["^pg_", "^information", "^public$"]},
    )
    assert len(pg_hostile.encode()) == 63
    found = await collect(config_of(source, tmp_path / "o.jsonl"), pg_hostile)
    check_catalog(found, schemas, PG_NAMES)
    await check_filters(source, schemas, PG_NAMES, tmp_path / "f.jsonl", pg_hostile)


@pytest.fixture
def maria_hostile(mysql_server: MysqlServer) -> Iterator[list[str]]:
    prefix = unique_name()
    schemas = [f"{prefix} {n}"[:64] for n in (MARIA_NAMES[0], MARIA_NAMES[3], "é" * 64)]
    try:
        mysql_server.run(
            *(f"CREATE DATABASE {quote_mysql(s)} CHARACTER SET utf8mb4" for s in schemas)
        )
        yield schemas
    finally:
        mysql_server.drop_schemas(schemas)


@pytest.mark.mysql
async def test_mariadb_hostile_identifiers(
    mysql_server: MysqlServer, maria_hostile: list[str], tmp_path: Path
) -> None:
    schemas = maria_hostile
    mysql_server.run(
        *(create_table(quote_mysql, s, t, MARIA_NAMES, "INT") for s in schemas for t in MARIA_NAMES)
    )
    prefix = schemas[0].split(" ")[0]
    source = mysql_server.source(service_name=SERVICE, schema_filter={"includes": [f"^{prefix} "]})
    found = await collect(config_of(source, tmp_path / "o.jsonl"), "default")
    check_catalog(found, schemas, MARIA_NAMES)
    await check_filters(source, schemas, MARIA_NAMES, tmp_path / "f.jsonl", "default")


@pytest.mark.mysql
async def test_mariadb_rejects_emoji_identifiers(mysql_server: MysqlServer) -> None:
    import pymysql

    with pytest.raises(pymysql.err.MySQLError):
        mysql_server.run(f"CREATE DATABASE {quote_mysql(unique_name() + '😀')}")


async def test_sqlite_hostile_identifiers(tmp_path: Path) -> None:
    schemas = [SQLITE_NAMES[0], SQLITE_NAMES[3], SQLITE_NAMES[-3]]
    attach = {}
    for index, schema in enumerate(schemas):
        path = tmp_path / f"{index}.db"
        with sqlite3.connect(path) as conn:
            quote = lambda n: '"' + n.replace('"', '""') + '"'  # noqa: E731
            for table in SQLITE_NAMES:
                conn.execute(create_table(quote, "main", table, SQLITE_NAMES, "INT"))
        conn.close()
        attach[schema] = str(path)
    main = tmp_path / "main.db"
    sqlite3.connect(main).close()
    source = {
        "type": "sqlite",
        "path": str(main),
        "attach": attach,
        "database": "d.b 😀",
        "service_name": SERVICE,
        "schema_filter": {"excludes": ["^main$"]},
    }
    found = await collect(config_of(source, tmp_path / "o.jsonl"), "d.b 😀")
    check_catalog(found, schemas, SQLITE_NAMES)
    await check_filters(source, schemas, SQLITE_NAMES, tmp_path / "f.jsonl", "d.b 😀")
