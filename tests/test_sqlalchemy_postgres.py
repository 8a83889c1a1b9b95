"""The generic SQLAlchemy connector on an async URL: postgresql+asyncpg through run_sync."""

from __future__ import annotations

from pathlib import Path

import anyio
import asyncpg
import pytest

from metaingest.entities import ConstraintType, DataType, TableType
from metaingest.workflow import Workflow
from tests.conftest import PgServer, unique_name
from tests.openmetadata import validation_errors
from tests.test_sqlalchemy import collect, make_config

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SHOP = [
    "CREATE SCHEMA shop",
    """CREATE TABLE shop.customers (
        id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        email varchar(120) NOT NULL UNIQUE,
        balance numeric(12, 2) DEFAULT 0,
        tags text[],
        seen timestamptz,
        doubled integer GENERATED ALWAYS AS (id * 2) STORED
    )""",
    """CREATE TABLE shop.orders (
        order_id integer,
        line_no smallint,
        customer_id integer REFERENCES shop.customers (id),
        PRIMARY KEY (order_id, line_no)
    )""",
    """CREATE TABLE shop.lines (
        order_id integer,
        line_no smallint,
        FOREIGN KEY (order_id, line_no) REFERENCES shop.orders (order_id, line_no)
    )""",
    "CREATE VIEW shop.big_spenders AS SELECT id, email FROM shop.customers WHERE balance > 100",
    "COMMENT ON TABLE shop.customers IS 'People'",
    "COMMENT ON COLUMN shop.customers.email IS 'Invoices go here'",
]


def url(server: PgServer, database: str) -> str:
    return f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/{database}"


async def test_asyncpg_url_extracts_tables_keys_and_views(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    await anyio.to_thread.run_sync(postgres_server.run, pg_database, *SHOP)
    config = make_config(
        url(postgres_server, pg_database),
        tmp_path,
        threads=2,
        schema_filter={"includes": ["^shop$"]},
    )
    report, tables = await collect(config)
    assert (report.schemas, report.tables, report.views) == (1, 3, 1)
    prefix = f"duck.{pg_database}.shop"
    assert sorted(tables) == [
        f"{prefix}.{n}" for n in ("big_spenders", "customers", "lines", "orders")
    ]
    customers = tables[f"{prefix}.customers"]
    assert customers.description == "People"
    assert [(c.name, c.data_type, c.data_type_display) for c in customers.columns] == [
        ("id", DataType.INT, "INTEGER"),
        ("email", DataType.VARCHAR, "VARCHAR(120)"),
        ("balance", DataType.NUMERIC, "NUMERIC(12, 2)"),
        ("tags", DataType.ARRAY, "TEXT[]"),
        ("seen", DataType.TIMESTAMPZ, "TIMESTAMP WITH TIME ZONE"),
        ("doubled", DataType.INT, "INTEGER"),
    ]
    by_name = {c.name: c for c in customers.columns}
    assert by_name["id"].identity == "ALWAYS" and by_name["id"].nullable is False
    assert by_name["email"].data_length == 120
    assert by_name["email"].description == "Invoices go here"
    assert (by_name["balance"].precision, by_name["balance"].scale) == (12, 2)
    assert by_name["balance"].default == "0"
    assert by_name["tags"].array_data_type is DataType.TEXT
    assert by_name["doubled"].generated == "(id * 2)"
    assert [(k.constraint_type, k.columns) for k in customers.constraints] == [
        (ConstraintType.PRIMARY_KEY, ("id",)),
        (ConstraintType.UNIQUE, ("email",)),
    ]
    lines = tables[f"{prefix}.lines"]
    assert [(k.constraint_type, k.columns, k.referred_table, k.referred_columns)
            for k in lines.constraints] == [
        (
            ConstraintType.FOREIGN_KEY,
            ("order_id", "line_no"),
            f"{prefix}.orders",
            ("order_id", "line_no"),
        )
    ]  # fmt: skip
    view = tables[f"{prefix}.big_spenders"]
    assert view.table_type is TableType.View
    assert view.view_definition is not None and "balance > " in view.view_definition
    for table in tables.values():
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn


async def test_asyncpg_connections_never_exceed_threads(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    statements = []
    for s in range(20):
        statements.append(f"CREATE SCHEMA s{s:02d}")
        statements.extend(
            f"CREATE TABLE s{s:02d}.t{t} (id int PRIMARY KEY, ref int REFERENCES s{s:02d}.t0 (id))"
            if t
            else f"CREATE TABLE s{s:02d}.t{t} (id int PRIMARY KEY)"
            for t in range(5)
        )
    await anyio.to_thread.run_sync(postgres_server.run, pg_database, *statements)
    application = unique_name("mi_sa_")
    config = make_config(
        url(postgres_server, pg_database),
        tmp_path,
        threads=3,
        connect_args={"server_settings": {"application_name": application}},
    )
    samples: list[int] = []
    sampler = await asyncpg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        database="postgres",
    )
    try:

        async def sample() -> None:
            while True:
                count = await sampler.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                    application,
                )
                samples.append(int(count))
                await anyio.sleep(0.002)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            report = await Workflow(config).run()
            await anyio.sleep(0.05)
            tg.cancel_scope.cancel()
    finally:
        await sampler.close()
    assert report.ok and report.units_ok == 21  # s00..s19 and public
    assert report.tables == 100
    assert 1 < report.peak_connections <= 3
    assert max(samples) <= 3
    assert max(samples) > 1  # the sampler did see the run
    assert samples[-1] == 0  # aclose() disposed of the pool
