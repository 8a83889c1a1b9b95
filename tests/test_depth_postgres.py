"""PostgreSQL: routines, owners, approximate size and DDL, each case made with plain DDL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import PostgresSource, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.routines import ProcedureType
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .faultkit import pg_execute, pg_side
from .openmetadata import validation_errors, with_ids

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

CATALOG = """
CREATE SCHEMA app;
CREATE TABLE app.customers (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email varchar(120) NOT NULL UNIQUE,
    score numeric(8, 2) DEFAULT 0,
    tags text[],
    doubled bigint GENERATED ALWAYS AS (id * 2) STORED
);
COMMENT ON COLUMN app.customers.email IS 'Login';
CREATE TABLE app.orders (
    order_no integer NOT NULL,
    customer_id bigint NOT NULL REFERENCES app.customers (id),
    placed date DEFAULT CURRENT_DATE,
    PRIMARY KEY (order_no, customer_id)
);
CREATE TABLE app.events (id bigint NOT NULL, created date NOT NULL)
    PARTITION BY RANGE (created);
CREATE TABLE app.never_analyzed (id integer);
INSERT INTO app.customers (email) SELECT 'c' || g FROM generate_series(1, 500) AS g;
ANALYZE app.customers;
CREATE VIEW app.big_customers AS SELECT id, email FROM app.customers WHERE score > 10;

CREATE FUNCTION app.total(a integer, b integer) RETURNS integer
    LANGUAGE sql IMMUTABLE AS 'SELECT a + b';
COMMENT ON FUNCTION app.total(integer, integer) IS 'Sum of two integers';
CREATE FUNCTION app.total(a numeric, b numeric DEFAULT 1) RETURNS numeric
    LANGUAGE sql STABLE AS 'SELECT a + b';
CREATE FUNCTION app.pairs() RETURNS TABLE (a integer, b text)
    LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY SELECT 1, 'x'; END $$;
CREATE PROCEDURE app.reset(INOUT n integer)
    LANGUAGE plpgsql AS $$ BEGIN n := 0; END $$;
CREATE AGGREGATE app.add_up(integer) (sfunc = int4pl, stype = integer);
CREATE EXTENSION citext SCHEMA app;
"""


@pytest.fixture(scope="module")
def catalog(postgres_server: PgServer) -> Iterator[tuple[str, str]]:
    """A database with the catalog above, owned in part by a role of its own."""
    database = postgres_server.create_database()
    role = unique_name("mi_test_role_")
    try:
        postgres_server.run("postgres", f'CREATE ROLE "{role}"')
        anyio.run(pg_execute, postgres_server, database, CATALOG)
        postgres_server.run(
            database,
            f'ALTER SCHEMA app OWNER TO "{role}"',
            f'ALTER TABLE app.orders OWNER TO "{role}"',
            f'ALTER VIEW app.big_customers OWNER TO "{role}"',
            f'ALTER FUNCTION app.total(integer, integer) OWNER TO "{role}"',
            f'ALTER PROCEDURE app.reset(integer) OWNER TO "{role}"',
        )
        yield database, role
    finally:
        postgres_server.drop_database(database)
        postgres_server.run("postgres", f'DROP ROLE IF EXISTS "{role}"')


async def extract(server: PgServer, database: str, **source: Any) -> SchemaBatch:
    config = parse_config(
        {
            "source": server.source(database, schema_filter={"includes": ["^app$"]}, **source),
            "sink": {"type": "jsonl", "path": "unused.jsonl"},
        }
    )
    async with Workflow(config).stream() as batches:
        (batch,) = [b async for b in batches]
    return batch


async def test_routines_field_by_field(postgres_server: PgServer, catalog: tuple[str, str]) -> None:
    database, _role = catalog
    batch = await extract(postgres_server, database)
    schema = f"pg.{database}.app"
    procedures = {p.name: p for p in batch.procedures}
    # overloads get distinct names; the aggregate and citext's functions are not there
    assert list(procedures) == [
        "pairs()",
        "reset(integer)",
        "total(integer, integer)",
        "total(numeric, numeric)",
    ]
    small = procedures["total(integer, integer)"]
    assert (small.routine_name, small.procedure_type, small.language) == (
        "total",
        ProcedureType.Function,
        "sql",
    )
    assert (small.arguments, small.return_type, small.volatility) == (
        "a integer, b integer",
        "integer",
        "IMMUTABLE",
    )
    assert small.description == "Sum of two integers"
    assert small.fqn == f"{schema}.total(integer, integer)"
    assert small.definition is not None
    assert small.definition.startswith("CREATE OR REPLACE FUNCTION app.total(a integer, b integer)")
    assert small.owner is None  # include_owners is off
    big = procedures["total(numeric, numeric)"]
    assert (big.arguments, big.return_type, big.volatility) == (
        "a numeric, b numeric DEFAULT 1",
        "numeric",
        "STABLE",
    )
    pairs = procedures["pairs()"]
    assert (pairs.language, pairs.return_type, pairs.arguments, pairs.volatility) == (
        "plpgsql",
        "TABLE(a integer, b text)",
        "",
        "VOLATILE",
    )
    reset = procedures["reset(integer)"]
    assert (reset.procedure_type, reset.return_type, reset.arguments) == (
        ProcedureType.StoredProcedure,
        None,
        "INOUT n integer",
    )
    assert reset.definition is not None and "CREATE OR REPLACE PROCEDURE app.reset" in (
        reset.definition
    )
    for procedure in batch.procedures:
        payload = procedure.to_openmetadata()
        assert validation_errors("storedProcedure", payload) == [], procedure.fqn
    assert small.to_openmetadata() == {
        "name": "total(integer, integer)",
        "displayName": "total",
        "databaseSchema": schema,
        "storedProcedureType": "Function",
        "storedProcedureCode": {"language": "SQL", "code": small.definition},
        "description": "Sum of two integers",
    }


async def test_routine_filter_and_switch(
    postgres_server: PgServer, catalog: tuple[str, str]
) -> None:
    database, _role = catalog
    batch = await extract(postgres_server, database, stored_procedure_filter={"excludes": ["^tot"]})
    assert [p.name for p in batch.procedures] == ["pairs()", "reset(integer)"]
    batch = await extract(postgres_server, database, include_stored_procedures=False)
    assert batch.procedures == ()


async def test_owners(postgres_server: PgServer, catalog: tuple[str, str]) -> None:
    database, role = catalog
    batch = await extract(postgres_server, database, include_owners=True)
    assert batch.database.owner == "postgres"
    assert batch.schema.owner == role
    owners = {t.name: t.owner for t in batch.tables}
    assert owners == {
        "big_customers": role,
        "customers": "postgres",
        "events": "postgres",
        "never_analyzed": "postgres",
        "orders": role,
    }
    routines = {p.name: p.owner for p in batch.procedures}
    assert routines["total(integer, integer)"] == role
    assert routines["reset(integer)"] == role
    assert routines["total(numeric, numeric)"] == "postgres"
    # owners are names here; OpenMetadata's owners need ids, so no payload carries them
    assert "owners" not in batch.schema.to_openmetadata()
    assert all("owners" not in t.to_openmetadata() for t in batch.tables)
    off = await extract(postgres_server, database)
    assert off.database.owner is off.schema.owner is None
    assert {t.owner for t in off.tables} == {None}


async def test_approximate_size(postgres_server: PgServer, catalog: tuple[str, str]) -> None:
    database, _role = catalog
    batch = await extract(postgres_server, database)
    tables = {t.name: t for t in batch.tables}
    async with pg_side(postgres_server, database) as conn:
        block = int(await conn.fetchval("SHOW block_size"))
        expected = await conn.fetchrow(
            "SELECT c.reltuples::bigint AS rows, (c.relpages + t.relpages"
            " + (SELECT sum(i.relpages) FROM pg_class AS i JOIN pg_index AS x"
            "    ON x.indexrelid = i.oid WHERE x.indrelid = c.oid)) AS pages"
            " FROM pg_class AS c JOIN pg_class AS t ON t.oid = c.reltoastrelid"
            " WHERE c.oid = 'app.customers'::regclass"
        )
    customers = tables["customers"]
    assert customers.row_estimate == expected["rows"] == 500
    assert customers.size_bytes == expected["pages"] * block
    assert customers.size_bytes is not None and customers.size_bytes > 0
    for name in ("never_analyzed", "big_customers", "events"):  # unknown, a view, partitioned
        assert (tables[name].row_estimate, tables[name].size_bytes) == (None, None), name


class CountingConnection:
    """Counts the statements sent through an asyncpg connection."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.queries = 0

    async def fetch(self, query: str, *args: Any) -> Any:
        self.queries += 1
        return await self.inner.fetch(query, *args)

    def transaction(self, **options: Any) -> Any:
        return self.inner.transaction(**options)


async def test_statements_per_schema_do_not_grow_with_routines(
    postgres_server: PgServer, pg_database: str
) -> None:
    statements = []
    for count in (0, 2, 20):
        statements.append(f"CREATE SCHEMA r{count}")
        statements += [
            f"CREATE FUNCTION r{count}.f{i}(x integer) RETURNS integer LANGUAGE sql AS 'SELECT x'"
            for i in range(count)
        ]
    await pg_execute(postgres_server, pg_database, ";\n".join(statements))
    config = parse_config(
        {"source": postgres_server.source(pg_database), "sink": {"type": "jsonl", "path": "x"}}
    )
    assert isinstance(config.source, PostgresSource)
    costs = {}
    for include in (True, False):
        source = config.source.model_copy(update={"include_stored_procedures": include})
        async with PostgresConnector(source) as connector:
            (database,) = await connector.list_databases()
            for schema in await connector.list_schemas(database):
                if schema.name.startswith("r"):
                    async with connector.connection(database) as conn:
                        counting = CountingConnection(conn)
                        batch = await connector.extract(Unit(database, schema), counting)
                    costs[(include, schema.name)] = (len(batch.procedures), counting.queries)
    assert costs == {
        (True, "r0"): (0, 4),
        (True, "r2"): (2, 4),
        (True, "r20"): (20, 4),
        (False, "r0"): (0, 3),  # without routines: no routines query at all
        (False, "r2"): (0, 3),
        (False, "r20"): (0, 3),
    }


async def test_ddl_round_trip(
    postgres_server: PgServer, catalog: tuple[str, str], pg_database: str
) -> None:
    """Each rendered CREATE TABLE runs on a fresh database and re-extracts to the same table."""
    database, _role = catalog
    batch = await extract(postgres_server, database, include_ddl=True)
    tables = {t.name: t for t in batch.tables}
    assert tables["big_customers"].ddl is None  # a view: its definition says it all
    assert tables["customers"].ddl == (
        "CREATE TABLE app.customers (\n"
        "\tid bigint GENERATED ALWAYS AS IDENTITY, \n"
        "\temail character varying(120) NOT NULL, \n"
        "\tscore numeric(8,2) DEFAULT 0, \n"
        "\ttags text[], \n"
        "\tdoubled bigint GENERATED ALWAYS AS ((id * 2)) STORED, \n"
        "\tCONSTRAINT customers_pkey PRIMARY KEY (id), \n"
        "\tCONSTRAINT customers_email_key UNIQUE (email)\n"
        ")"
    )
    assert tables["customers"].to_openmetadata()["schemaDefinition"] == tables["customers"].ddl
    for table in batch.tables:
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
    order = ["customers", "orders", "events", "never_analyzed"]
    script = ";\n".join(["CREATE SCHEMA app", *(str(tables[name].ddl) for name in order)])
    await pg_execute(postgres_server, pg_database, script)
    again = {t.name: t for t in (await extract(postgres_server, pg_database)).tables}
    assert sorted(again) == sorted(order)
    for name in order:
        before, after = tables[name], again[name]
        # PostgreSQL keeps comments apart from CREATE TABLE (COMMENT ON): not in the DDL
        assert [c.model_copy(update={"description": None}) for c in before.columns] == list(
            after.columns
        ), name
        # the same constraints, referring to the same tables in the new database
        assert [c.model_dump_json() for c in before.constraints] == [
            c.model_dump_json().replace(pg_database, database) for c in after.constraints
        ], name
        assert (before.table_type, before.partitioning) == (after.table_type, after.partitioning)


async def test_run_counts_and_writes_routines(
    postgres_server: PgServer, catalog: tuple[str, str], tmp_path: Path
) -> None:
    database, _role = catalog
    out = tmp_path / "out.jsonl"
    config = parse_config(
        {
            "source": postgres_server.source(database, schema_filter={"includes": ["^app$"]}),
            "sink": {"type": "jsonl", "path": str(out), "format": "openmetadata"},
        }
    )
    report = await Workflow(config).run()
    assert report.ok and report.stored_procedures == 4
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    kinds = [line["kind"] for line in lines if line["kind"] != "lineage"]  # views' lineage
    assert kinds == ["database", "databaseSchema"] + ["table"] * 5 + ["storedProcedure"] * 4
    for line in lines:
        request = with_ids(line["request"]) if line["kind"] == "lineage" else line["request"]
        assert validation_errors(line["kind"], request) == [], line["fqn"]
