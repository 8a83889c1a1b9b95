"""The generic SQLAlchemy connector on DuckDB and SQLite files: entities, threads, errors."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch
from metaingest.connectors.sqlalchemy import SqlAlchemyConnector
from metaingest.entities import Column, ConstraintType, DataType, Table, TableType
from metaingest.report import Report
from metaingest.workflow import Workflow
from tests.loopwitness import LoopWitness
from tests.openmetadata import validation_errors

FIXTURES = Path(__file__).parent / "fixtures"

pytestmark = pytest.mark.anyio


def make_config(url: str, tmp_path: Path, threads: int = 1, **source: Any) -> WorkflowConfig:
    """A workflow over ``url`` writing JSONL to ``tmp_path/out.jsonl``."""
    return parse_config(
        {
            "source": {
                "type": "sqlalchemy",
                "url": url,
                "threads": threads,
                "service_name": "duck",
                **source,
            },
            "sink": {"type": "jsonl", "path": str(tmp_path / "out.jsonl")},
        }
    )


class CollectingSink:
    """Keeps every batch in memory."""

    def __init__(self) -> None:
        self.batches: list[SchemaBatch] = []

    async def write(self, batch: SchemaBatch) -> None:
        self.batches.append(batch)

    async def aclose(self, *, commit: bool = False) -> None:
        pass


async def collect(config: WorkflowConfig) -> tuple[Report, dict[str, Table]]:
    """Run ``config``; the report and every table by FQN."""
    sink = CollectingSink()
    report = await Workflow(config, sink=sink).run()
    assert report.issues == []
    return report, {t.fqn: t for b in sink.batches for t in b.tables}


def duckdb_file(path: Path, sql: str) -> str:
    """Create a DuckDB file from ``sql``; its SQLAlchemy URL."""
    connection = duckdb.connect(str(path))
    try:
        connection.execute(sql)
    finally:
        connection.close()
    return f"duckdb:///{path}"


@pytest.fixture
def catalog(tmp_path: Path) -> str:
    """The URL of tests/fixtures/duckdb_catalog.sql loaded into a DuckDB file."""
    return duckdb_file(tmp_path / "shop.duckdb", (FIXTURES / "duckdb_catalog.sql").read_text())


def many_tables_sql(schemas: int, tables: int) -> str:
    """``schemas`` schemas of ``tables`` tables each, every table keyed and referring to t00."""
    out = []
    for s in range(schemas):
        out.append(f"CREATE SCHEMA s{s:02d};")
        for t in range(tables):
            ref = f", parent INTEGER REFERENCES s{s:02d}.t00 (id)" if t else ""
            out.append(
                f"CREATE TABLE s{s:02d}.t{t:02d} (id INTEGER PRIMARY KEY, name VARCHAR,"
                f" amount DECIMAL(10, 2), created_at TIMESTAMP{ref});"
            )
    return "\n".join(out)


@pytest.fixture(scope="module")
def big_duckdb(tmp_path_factory: pytest.TempPathFactory) -> str:
    """20 schemas x 50 tables in one DuckDB file."""
    path = tmp_path_factory.mktemp("big") / "big.duckdb"
    return duckdb_file(path, many_tables_sql(20, 50))


def col(table: Table, name: str) -> Column:
    return next(c for c in table.columns if c.name == name)


async def test_duckdb_catalog_entities(catalog: str, tmp_path: Path) -> None:
    report, tables = await collect(make_config(catalog, tmp_path, threads=2))
    assert (report.databases, report.schemas, report.tables, report.views) == (1, 5, 7, 1)
    assert sorted(tables) == [
        'duck.shop."odd schema.v1"."we\\"ird.table"',
        'duck.shop."odd schema.v1".child table',
        "duck.shop.main.plain",
        "duck.shop.sales.active_customers",
        "duck.shop.sales.customers",
        "duck.shop.sales.orders",
        "duck.shop.sales.shipments",
        "duck.shop.ünïcode.Ελληνικά",
    ]
    customers = tables["duck.shop.sales.customers"]
    assert customers.table_type is TableType.Regular
    assert customers.description == "People who buy things"
    assert customers.database_schema == "duck.shop.sales"
    expected = {  # name: (data_type, display, array item, precision, scale)
        "id": (DataType.INT, "INTEGER", None, None, None),
        "email": (DataType.VARCHAR, "VARCHAR", None, None, None),  # DuckDB drops (100)
        "name": (DataType.VARCHAR, "VARCHAR", None, None, None),  # TEXT is VARCHAR
        "balance": (DataType.DECIMAL, "DECIMAL(12,2)", None, 12, 2),
        "active": (DataType.BOOLEAN, "BOOLEAN", None, None, None),
        "born": (DataType.DATE, "DATE", None, None, None),
        "created": (DataType.TIMESTAMP, "TIMESTAMP", None, None, None),
        "updated": (DataType.TIMESTAMPZ, "TIMESTAMP WITH TIME ZONE", None, None, None),
        "wait": (DataType.INTERVAL, "INTERVAL", None, None, None),
        "photo": (DataType.BLOB, "BLOB", None, None, None),
        "token": (DataType.UUID, "UUID", None, None, None),
        "prefs": (DataType.JSON, "JSON", None, None, None),
        "tags": (DataType.ARRAY, "VARCHAR[]", DataType.VARCHAR, None, None),
        "grid": (DataType.ARRAY, "INTEGER[][]", DataType.INT, None, None),
        "triple": (DataType.ARRAY, "DOUBLE[3]", DataType.DOUBLE, None, None),
        "feeling": (DataType.ENUM, "ENUM('happy', 'it''s ok', 'sad')", None, None, None),
        "tiny": (DataType.TINYINT, "TINYINT", None, None, None),
        "small": (DataType.SMALLINT, "SMALLINT", None, None, None),
        "big": (DataType.BIGINT, "BIGINT", None, None, None),
        "huge": (DataType.LARGEINT, "HUGEINT", None, None, None),
        "ratio": (DataType.DOUBLE, "DOUBLE", None, None, None),
        "approx": (DataType.FLOAT, "FLOAT", None, None, None),
        "at_time": (DataType.TIME, "TIME", None, None, None),
        "address": (DataType.STRUCT, "STRUCT(street VARCHAR, zip INTEGER)", None, None, None),
        "attrs": (DataType.MAP, "MAP(VARCHAR, INTEGER)", None, None, None),
        "doubled": (DataType.BIGINT, "BIGINT", None, None, None),
    }
    assert [c.name for c in customers.columns] == list(expected)
    assert [c.ordinal_position for c in customers.columns] == list(range(1, len(expected) + 1))
    got = {
        c.name: (c.data_type, c.data_type_display, c.array_data_type, c.precision, c.scale)
        for c in customers.columns
    }
    assert got == expected
    assert col(customers, "id").nullable is False
    assert col(customers, "name").nullable is False
    assert col(customers, "email").nullable is True
    assert col(customers, "email").description == "Where the invoices go"
    assert col(customers, "balance").default == "0"
    assert col(customers, "active").default == "true"
    assert col(customers, "doubled").generated == "CAST((id * 2) AS BIGINT)"
    assert col(customers, "doubled").default is None
    assert [(k.constraint_type, k.columns) for k in customers.constraints] == [
        (ConstraintType.PRIMARY_KEY, ("id",)),
        (ConstraintType.UNIQUE, ("email",)),
    ]

    shipments = tables["duck.shop.sales.shipments"]
    fk = shipments.constraints[-1]
    assert (fk.constraint_type, fk.columns, fk.referred_table, fk.referred_columns) == (
        ConstraintType.FOREIGN_KEY,
        ("order_id", "line_no"),
        "duck.shop.sales.orders",
        ("order_id", "line_no"),
    )
    assert shipments.constraints[1].columns == ("carrier", "tracking")
    orders = tables["duck.shop.sales.orders"]
    assert orders.constraints[0].columns == ("order_id", "line_no")
    assert orders.constraints[1].referred_table == "duck.shop.sales.customers"

    view = tables["duck.shop.sales.active_customers"]
    assert view.table_type is TableType.View
    assert view.description == "Only the active ones"
    assert view.view_definition is not None
    assert "FROM sales.customers" in view.view_definition
    assert [c.name for c in view.columns] == ["id", "email"]

    weird = tables['duck.shop."odd schema.v1"."we\\"ird.table"']
    assert [c.name for c in weird.columns] == ["a col", "ü.ß", 'x"y']
    child = tables['duck.shop."odd schema.v1".child table']
    assert child.constraints[1].referred_table == 'duck.shop."odd schema.v1"."we\\"ird.table"'
    assert child.constraints[1].referred_columns == ("a col",)
    greek = tables["duck.shop.ünïcode.Ελληνικά"]
    assert [c.name for c in greek.columns] == ["κλειδί", "名前"]

    for table in tables.values():
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn


async def test_duckdb_output_does_not_depend_on_threads(catalog: str, tmp_path: Path) -> None:
    outputs = []
    for threads in (1, 8):
        config = make_config(catalog, tmp_path, threads=threads)
        report = await Workflow(config).run()
        assert report.ok and report.units_ok == 5
        outputs.append((tmp_path / "out.jsonl").read_bytes())
    assert outputs[0] == outputs[1]
    assert outputs[0].count(b'"kind":"table"') == 8


@pytest.fixture
def executing_threads() -> Iterator[list[tuple[int, str, Any]]]:
    """(thread ident, statement, parameters) of every statement any Engine executes."""
    seen: list[tuple[int, str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((threading.get_ident(), statement, parameters))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


async def test_sync_dialect_runs_units_in_worker_threads(
    big_duckdb: str, tmp_path: Path, executing_threads: list[tuple[int, str, Any]]
) -> None:
    loop_thread = threading.get_ident()
    report = await Workflow(make_config(big_duckdb, tmp_path, threads=4)).run()
    assert report.ok and report.units_ok == 21 and report.tables == 1000
    assert 1 < report.peak_connections <= 4
    # the columns query of each unit, bound to its schema name (duckdb-engine binds positionally)
    per_unit = {p[0]: t for t, sql, p in executing_threads if "duckdb_columns()" in sql}
    assert len(per_unit) == 21
    threads = {t for t, _, _ in executing_threads}
    assert loop_thread not in threads
    assert len(set(per_unit.values())) > 1


async def run_witnessed(
    config: WorkflowConfig, monkeypatch: pytest.MonkeyPatch, units: int
) -> Report:
    """Run ``config`` while a ticker counts its turns; every schema's extraction waits, in its
    own thread, for the ticker to turn (tests/loopwitness.py): none may run on the loop."""
    witness = LoopWitness()
    monkeypatch.setattr(
        SqlAlchemyConnector, "_extract_sync", witness.wrap(SqlAlchemyConnector._extract_sync)
    )
    report = await witness.run(Workflow(config).run)
    witness.check(calls=units)
    return report


async def test_duckdb_extraction_never_blocks_the_loop(
    big_duckdb: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(big_duckdb, tmp_path, threads=4)
    report = await run_witnessed(config, monkeypatch, units=21)
    assert report.ok and report.tables == 1000


@pytest.fixture(scope="module")
def big_sqlite(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite file with 1000 tables (the main schema)."""
    path = tmp_path_factory.mktemp("big") / "big.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            "".join(
                f"CREATE TABLE t{i:04d} (id INTEGER PRIMARY KEY, name VARCHAR(20),"
                f" amount DECIMAL(10, 2), at TIMESTAMP, parent INTEGER REFERENCES t0000 (id),"
                f" UNIQUE (name));"
                for i in range(1000)
            )
        )
    connection.close()
    return f"sqlite:///{path}"


async def test_sqlite_extraction_never_blocks_the_loop(
    big_sqlite: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = make_config(big_sqlite, tmp_path, threads=2)
    report = await run_witnessed(config, monkeypatch, units=1)
    assert report.ok and report.tables == 1000


SQLITE_CATALOG = """
CREATE TABLE authors (
    id INTEGER PRIMARY KEY,
    name VARCHAR(80) NOT NULL,
    country CHAR(2),
    CONSTRAINT authors_name_key UNIQUE (name, country)
);
CREATE TABLE books (
    isbn TEXT,
    edition INTEGER,
    author_id INTEGER REFERENCES authors (id),
    price NUMERIC(8, 2) DEFAULT 9.99,
    cover BLOB,
    published DATE,
    PRIMARY KEY (isbn, edition)
);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    isbn TEXT,
    edition INTEGER,
    stars SMALLINT,
    FOREIGN KEY (isbn, edition) REFERENCES books (isbn, edition)
);
CREATE VIEW five_star AS SELECT isbn FROM reviews WHERE stars = 5;
"""


async def test_sqlite_tables_views_and_keys(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(SQLITE_CATALOG)
    connection.close()
    report, tables = await collect(make_config(f"sqlite:///{path}", tmp_path))
    assert (report.schemas, report.tables, report.views) == (1, 3, 1)
    assert sorted(tables) == [
        "duck.library.main.authors",
        "duck.library.main.books",
        "duck.library.main.five_star",
        "duck.library.main.reviews",
    ]
    authors = tables["duck.library.main.authors"]
    assert [(c.name, c.data_type, c.data_type_display, c.data_length) for c in authors.columns] == [
        ("id", DataType.INT, "INTEGER", None),
        ("name", DataType.VARCHAR, "VARCHAR(80)", 80),
        ("country", DataType.CHAR, "CHAR(2)", 2),
    ]
    assert [(k.constraint_type, k.columns) for k in authors.constraints] == [
        (ConstraintType.PRIMARY_KEY, ("id",)),
        (ConstraintType.UNIQUE, ("name", "country")),
    ]
    books = tables["duck.library.main.books"]
    assert books.constraints[0].columns == ("isbn", "edition")
    fk = books.constraints[1]
    assert (fk.columns, fk.referred_table, fk.referred_columns) == (
        ("author_id",),
        "duck.library.main.authors",
        ("id",),
    )
    price = col(books, "price")
    assert (price.data_type, price.precision, price.scale, price.default) == (
        DataType.NUMERIC,
        8,
        2,
        "9.99",
    )
    reviews = tables["duck.library.main.reviews"]
    assert reviews.constraints[1].columns == ("isbn", "edition")
    assert reviews.constraints[1].referred_columns == ("isbn", "edition")
    view = tables["duck.library.main.five_star"]
    assert view.table_type is TableType.View
    assert view.view_definition is not None and "stars = 5" in view.view_definition
    for table in tables.values():
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
