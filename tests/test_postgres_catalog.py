"""PostgreSQL connector against the fixture catalog: golden file, tricky fields, validation."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.entities import DataType, Table, TableType, split_fqn
from metaingest.errors import MissingDependencyError, SourceError
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .faultkit import pg_execute
from .openmetadata import validation_errors

pytestmark = pytest.mark.postgres

FIXTURE = Path(__file__).parent / "fixtures" / "postgres_catalog.sql"
GOLDEN = Path(__file__).parent / "golden" / "postgres_catalog.jsonl"
GOLDEN_DATABASE = "mi_test_golden"  # stands for the random database name in the golden file
REGENERATE = os.environ.get("METAINGEST_REGENERATE_GOLDEN") == "1"
STATISTICS = re.compile(r',"(row_estimate|size_bytes)":\d+')


@pytest.fixture(scope="module")
def catalog_db(postgres_server: PgServer) -> Iterator[str]:
    """A database loaded with the fixture catalog, shared by this module's tests."""
    name = postgres_server.create_database()
    try:
        anyio.run(pg_execute, postgres_server, name, FIXTURE.read_text(encoding="utf-8"))
        postgres_server.run(name, f"COMMENT ON DATABASE \"{name}\" IS 'The fixture catalog'")
        yield name
    finally:
        postgres_server.drop_database(name)


def make_config(server: PgServer, database: str | None, out: Path, **source: Any) -> WorkflowConfig:
    return parse_config(
        {
            "source": server.source(database, application_name=unique_name("mi_app_"), **source),
            "sink": {"type": "jsonl", "path": str(out)},
        }
    )


async def collect(config: WorkflowConfig) -> list[SchemaBatch]:
    async with Workflow(config).stream() as batches:
        return [batch async for batch in batches]


def tables_by_name(batches: list[SchemaBatch]) -> dict[tuple[str, str], Table]:
    return {(b.schema.name, t.name): t for b in batches for t in b.tables}


@pytest.mark.anyio
async def test_columns_query_matches_the_unpacking_order(
    postgres_server: PgServer, catalog_db: str
) -> None:
    """The connector unpacks a columns row by position: its names must be the query's."""
    from metaingest.connectors.postgres import COLUMNS_ROW
    from metaingest.connectors.sql import queries

    from .faultkit import pg_side

    async with pg_side(postgres_server, catalog_db) as conn:
        statement = await conn.prepare(queries("postgres")["columns"])
        assert tuple(a.name for a in statement.get_attributes()) == COLUMNS_ROW


@pytest.mark.anyio
async def test_golden_file(postgres_server: PgServer, catalog_db: str, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    report = await Workflow(make_config(postgres_server, catalog_db, out)).run()
    assert report.exit_code() == 0, report.issues
    text = out.read_text(encoding="utf-8").replace(catalog_db, GOLDEN_DATABASE)
    text = STATISTICS.sub("", text)  # set by (auto)VACUUM/ANALYZE, which may or may not have run
    if REGENERATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "output differs from the golden file; rerun with METAINGEST_REGENERATE_GOLDEN=1 "
        "and review the diff"
    )
    assert (report.schemas, report.tables, report.views) == (6, 17, 2)


@pytest.mark.anyio
async def test_threads_give_identical_output(
    postgres_server: PgServer, catalog_db: str, tmp_path: Path
) -> None:
    outputs = []
    for threads in (1, 2, 8):
        out = tmp_path / f"out{threads}.jsonl"
        config = make_config(postgres_server, catalog_db, out, threads=threads)
        report = await Workflow(config).run()
        assert report.exit_code() == 0
        assert report.peak_connections <= threads
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


@pytest.mark.anyio
async def test_tricky_fields(postgres_server: PgServer, catalog_db: str, tmp_path: Path) -> None:
    batches = await collect(make_config(postgres_server, catalog_db, tmp_path / "o.jsonl"))
    tables = tables_by_name(batches)
    db = f"pg.{catalog_db}"

    customers = tables["sales", "customers"]
    columns = {c.name: c for c in customers.columns}
    assert [c.name for c in customers.columns][:3] == ["id", "email", "first_name"]
    assert [c.ordinal_position for c in customers.columns] == list(range(1, 27))
    assert (columns["tags"].data_type, columns["tags"].array_data_type) == (
        DataType.ARRAY,
        DataType.TEXT,
    )
    codes = columns["codes"]
    assert (codes.array_data_type, codes.data_length) == (DataType.VARCHAR, 5)
    assert codes.data_type_display == "character varying(5)[]"
    assert columns["moods"].array_data_type == DataType.ENUM
    assert columns["quantities"].array_data_type == DataType.INT  # array of a domain
    assert (columns["mood"].data_type, columns["mood"].data_type_display) == (
        DataType.ENUM,
        "sales.mood",
    )
    assert columns["mood"].default == "'ok'::sales.mood"
    code = columns["code"]  # domain over varchar(8) NOT NULL
    assert (code.data_type, code.data_type_display, code.data_length) == (
        DataType.VARCHAR,
        "sales.short_code",
        8,
    )
    assert not code.nullable
    tiny = columns["tiny"]  # domain over that domain
    assert (tiny.data_type, tiny.data_type_display, tiny.data_length) == (
        DataType.VARCHAR,
        "sales.tiny_code",
        8,
    )
    assert (columns["quantity"].data_type, columns["quantity"].data_type_display) == (
        DataType.INT,
        "sales.positive_int",
    )
    assert columns["address"].data_type == DataType.STRUCT
    assert columns["address"].data_type_display == "sales.address"
    assert (columns["balance"].precision, columns["balance"].scale) == (12, 2)
    assert columns["id"].identity == "ALWAYS"
    assert columns["id"].default is None
    assert columns["full_name"].generated == "((first_name || ' '::text) || last_name)"
    assert columns["full_name"].default is None
    assert columns["email"].description == "Login e-mail, unique"
    assert customers.description == "People who buy"
    orders = {c.name: c for c in tables["sales", "orders"].columns}
    assert orders["order_no"].identity == "BY DEFAULT"

    events = tables["sales", "events"]
    assert events.table_type == TableType.Partitioned
    assert events.partitioning is not None
    assert events.partitioning.strategy == "RANGE"
    assert events.partitioning.columns == ("happened_at",)
    sub = tables["sales", "events_2024_02"]
    assert sub.table_type == TableType.Partitioned
    assert sub.partition_of == f"{db}.sales.events"
    assert sub.partition_bound is not None
    assert sub.partition_bound.startswith("FOR VALUES FROM ('2024-02-01")
    assert tables["sales", "events_2024_02_click"].partition_of == f"{db}.sales.events_2024_02"
    default = tables["Mixed Case", "Events Default"]
    assert (default.partition_of, default.partition_bound) == (f"{db}.sales.events", "DEFAULT")
    readings = tables["sales", "readings"].partitioning
    assert readings is not None
    assert (readings.strategy, readings.columns) == ("HASH", ("sensor",))
    assert readings.expression == "HASH (sensor, lower(sensor))"

    assert tables["sales", "remote_rates"].table_type == TableType.Foreign
    view = tables["sales", "customer_emails"]
    assert view.table_type == TableType.View
    assert view.view_definition is not None and "FROM sales.customers" in view.view_definition
    assert tables["sales", "order_counts"].table_type == TableType.MaterializedView

    lines = {c.name: c for c in tables["sales", "order_lines"].constraints}
    assert lines["order_lines_pkey"].columns == ("order_no", "customer_id", "line_no")
    assert lines["order_lines_order_fk"].columns == ("order_no", "customer_id")
    assert lines["order_lines_order_fk"].referred_columns == ("order_no", "customer_id")
    sku = lines["order_lines_sku_fk"]
    assert (sku.referred_table, sku.referred_columns) == (
        f"{db}.Mixed Case.Product Catalog",
        ("SKU",),
    )
    # only the key to the partitioned table, not its clones for each partition
    notes = tables["sales", "event_notes"].constraints
    assert [(c.referred_table, c.referred_columns) for c in notes] == [
        (f"{db}.sales.events", ("id", "kind", "happened_at"))
    ]

    strasse = tables["ünïcödé", "Straße"]
    fks = {c.name: c for c in strasse.constraints}
    assert fks["Straße_order_fk"].columns == ("order", "customer")
    assert fks["Straße_order_fk"].referred_table == f"{db}.sales.orders"
    assert fks["Straße_order_fk"].referred_columns == ("order_no", "customer_id")
    dotted = fks["Straße_x.y_fkey"]
    assert dotted.referred_table == f'{db}."dotted.schema"."a.b"'
    assert dotted.referred_columns == ("x.y",)
    assert [c.name for c in strasse.columns] == ["größe", "x.y", "名前", "customer", "order"]

    ab = tables["dotted.schema", "a.b"]
    assert ab.fqn == f'{db}."dotted.schema"."a.b"'
    assert split_fqn(ab.fqn) == ["pg", catalog_db, "dotted.schema", "a.b"]
    quoted = tables["ünïcödé", '"quoted" table']
    assert split_fqn(quoted.fqn)[-1] == '"quoted" table'
    mixed = tables["Mixed Case", "Product Catalog"]
    assert [c.name for c in mixed.columns] == ["SKU", "Price (€)", 'say "hi"', "lower"]
    schemas = {b.schema.name: b.schema for b in batches}
    assert schemas["sales"].description == "Customers, orders and events"
    assert schemas["empty_schema"].description is None
    assert batches[0].database.description == "The fixture catalog"


@pytest.mark.anyio
async def test_openmetadata_payloads_validate(
    postgres_server: PgServer, catalog_db: str, tmp_path: Path
) -> None:
    batches = await collect(make_config(postgres_server, catalog_db, tmp_path / "o.jsonl"))
    assert validation_errors("database", batches[0].database.to_openmetadata()) == []
    checked = 0
    for batch in batches:
        assert validation_errors("databaseSchema", batch.schema.to_openmetadata()) == []
        for table in batch.tables:
            assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
            checked += 1
    assert checked == 19


@pytest.mark.anyio
async def test_lists_all_databases_when_none_named(
    postgres_server: PgServer, catalog_db: str
) -> None:
    config = make_config(postgres_server, None, Path("unused.jsonl"))
    async with PostgresConnector(config.source) as connector:  # type: ignore[arg-type]
        databases = {d.name: d for d in await connector.list_databases()}
        assert connector.peak_connections() == 1
    assert databases[catalog_db].description == "The fixture catalog"
    assert databases[catalog_db].service == "pg"
    assert "template0" not in databases and "template1" not in databases


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"port": 1}, ["127.0.0.1:1", "refused"]),
        ({"database": "mi_test_no_such_database"}, ["does not exist"]),
        ({"databases": ["{db}", "mi_test_no_such_database"]}, ["does not exist"]),
        ({"host": "no-such-host.invalid", "connect_timeout": 5}, ["no-such-host.invalid:5432"]),
    ],
)
async def test_discovery_errors_are_source_errors(
    postgres_server: PgServer,
    catalog_db: str,
    tmp_path: Path,
    source: dict[str, Any],
    expected: list[str],
) -> None:
    source = {
        k: [catalog_db if x == "{db}" else x for x in v] if k == "databases" else v
        for k, v in source.items()
    }
    database = None if "databases" in source else source.pop("database", catalog_db)
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, database, out, password="s3cret-pw", **source)
    with pytest.raises(SourceError) as caught:
        await Workflow(config).run()
    message = str(caught.value)
    assert "\n" not in message
    assert "s3cret-pw" not in message
    assert "mi_test_" in message
    for part in expected:
        assert part in message
    assert not out.exists()


def test_missing_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    config = parse_config(
        {"source": {"type": "postgres", "database": "db"}, "sink": {"type": "jsonl", "path": "x"}}
    )
    with pytest.raises(MissingDependencyError, match="metaingest\\[postgres\\]"):
        PostgresConnector(config.source)  # type: ignore[arg-type]


class CountingConnection:
    """Counts the queries sent through an asyncpg connection."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.queries = 0

    async def fetch(self, query: str, *args: Any) -> Any:
        self.queries += 1
        return await self.inner.fetch(query, *args)

    def transaction(self, **options: Any) -> Any:
        return self.inner.transaction(**options)


@pytest.mark.anyio
async def test_constant_queries_per_schema(postgres_server: PgServer, catalog_db: str) -> None:
    config = make_config(postgres_server, catalog_db, Path("unused.jsonl"))
    counts = {}
    async with PostgresConnector(config.source) as connector:  # type: ignore[arg-type]
        (database,) = await connector.list_databases()
        for schema in await connector.list_schemas(database):
            if schema.name in ("sales", "empty_schema", "ünïcödé"):
                async with connector.connection(database) as conn:
                    counting = CountingConnection(conn)
                    batch = await connector.extract(Unit(database, schema), counting)
                counts[schema.name] = (len(batch.tables), counting.queries)
    # the same whatever the number of tables: relations, columns, constraints, routines (with
    # include_lineage, a schema with views reads one more: their dependency records)
    assert counts == {"sales": (14, 4), "empty_schema": (0, 4), "ünïcödé": (2, 4)}
