"""SQLite and DuckDB files: no routines or owners, and DDL that round-trips."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import pytest

from metaingest.config import parse_config
from metaingest.connectors.base import SchemaBatch
from metaingest.workflow import Workflow

from .openmetadata import validation_errors

pytestmark = pytest.mark.anyio

SQLITE = [
    "CREATE TABLE customers (id INTEGER PRIMARY KEY, email VARCHAR(120) NOT NULL UNIQUE,"
    " score NUMERIC(8, 2) DEFAULT 0, note TEXT DEFAULT 'none')",
    "CREATE TABLE orders (order_no INTEGER NOT NULL, customer_id INTEGER NOT NULL"
    " REFERENCES customers (id), placed DATE, PRIMARY KEY (order_no, customer_id))",
    "CREATE VIEW emails AS SELECT email FROM customers",
]
DUCKDB = [
    "CREATE SCHEMA app",
    "CREATE TABLE app.customers (id INTEGER PRIMARY KEY, email VARCHAR NOT NULL UNIQUE,"
    " score DECIMAL(8, 2) DEFAULT 0, tags VARCHAR[], placed TIMESTAMP)",
    "CREATE TABLE app.orders (order_no INTEGER NOT NULL, customer_id INTEGER NOT NULL"
    " REFERENCES app.customers (id), PRIMARY KEY (order_no, customer_id))",
    "CREATE VIEW app.emails AS SELECT email FROM app.customers",
    "CREATE MACRO app.twice(x) AS x * 2",
]
ALL_ON = {"include_owners": True, "include_ddl": True, "include_stored_procedures": True}


def make_sqlite(path: Path, statements: list[str]) -> None:
    connection = sqlite3.connect(path)
    try:
        for statement in statements:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()


def make_duckdb(path: Path, statements: list[str]) -> None:
    connection = duckdb.connect(str(path))
    try:
        for statement in statements:
            connection.execute(statement)
    finally:
        connection.close()


async def extract(source: dict[str, Any], schema: str) -> SchemaBatch:
    config = parse_config(
        {
            "source": {**source, "schema_filter": {"includes": [f"^{schema}$"]}},
            "sink": {"type": "jsonl", "path": "unused.jsonl"},
        }
    )
    async with Workflow(config).stream() as batches:
        (batch,) = [b async for b in batches]
    return batch


def check_round_trip(before: SchemaBatch, after: SchemaBatch) -> None:
    """Same tables (views aside), same columns, same constraints, field by field."""
    tables = {t.name: t for t in before.tables if t.ddl is not None}
    again = {t.name: t for t in after.tables}
    assert sorted(again) == sorted(tables)
    for name, table in tables.items():
        assert table.columns == again[name].columns, name
        assert [c.model_dump() for c in table.constraints] == [
            c.model_dump() for c in again[name].constraints
        ], name


async def test_sqlite(tmp_path: Path) -> None:
    make_sqlite(tmp_path / "shop.db", SQLITE)
    source = {"type": "sqlite", "path": str(tmp_path / "shop.db"), **ALL_ON}
    batch = await extract(source, "main")
    assert batch.procedures == ()  # SQLite has none
    tables = {t.name: t for t in batch.tables}
    assert {t.owner for t in batch.tables} == {None}
    assert {(t.row_estimate, t.size_bytes) for t in batch.tables} == {(None, None)}
    assert tables["emails"].ddl is None
    assert tables["customers"].ddl == (
        "CREATE TABLE main.customers (\n"
        "\tid INTEGER NOT NULL, \n"
        "\temail VARCHAR(120) NOT NULL, \n"
        "\tscore NUMERIC(8, 2) DEFAULT 0, \n"
        "\tnote TEXT DEFAULT 'none', \n"
        "\tPRIMARY KEY (id), \n"
        "\tUNIQUE (email)\n"
        ")"
    )
    for table in batch.tables:
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
    order = ["customers", "orders"]
    (tmp_path / "again").mkdir()  # the same file name: the same database entity
    fresh = tmp_path / "again" / "shop.db"
    make_sqlite(fresh, [str(tables[name].ddl) for name in order])
    again = await extract({"type": "sqlite", "path": str(fresh)}, "main")
    check_round_trip(batch, again)


async def test_duckdb(tmp_path: Path) -> None:
    make_duckdb(tmp_path / "shop.duckdb", DUCKDB)
    source = {"type": "sqlalchemy", "url": f"duckdb:///{tmp_path / 'shop.duckdb'}", **ALL_ON}
    batch = await extract(source, "app")
    assert batch.procedures == ()  # macros are not read (documented)
    tables = {t.name: t for t in batch.tables}
    assert {t.owner for t in batch.tables} == {None}
    assert tables["emails"].ddl is None
    ddl = tables["customers"].ddl
    assert ddl is not None and ddl.startswith("CREATE TABLE app.customers (\n\tid INTEGER NOT NULL")
    order = ["customers", "orders"]
    (tmp_path / "again").mkdir()  # the same file name: the same database entity
    fresh = tmp_path / "again" / "shop.duckdb"
    make_duckdb(fresh, ["CREATE SCHEMA app", *(str(tables[n].ddl) for n in order)])
    url = f"duckdb:///{fresh}"
    again = await extract({"type": "sqlalchemy", "url": url}, "app")
    check_round_trip(batch, again)
