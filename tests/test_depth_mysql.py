"""MariaDB: routines, DEFINERs as owners, approximate size and DDL, made with plain DDL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from metaingest.config import MysqlSource, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.mysql import MysqlConnector
from metaingest.ddl import render_create_table
from metaingest.routines import ProcedureType
from metaingest.workflow import Workflow
from tests.conftest import MysqlServer, quote_mysql

from .openmetadata import validation_errors

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]

NOBODY = "mi_test_nobody@localhost"  # a DEFINER need not exist to be read from the catalog


def catalog_ddl(s: str) -> list[str]:
    q = quote_mysql(s)
    return [
        f"CREATE TABLE {q}.customers (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,"
        " email VARCHAR(120) NOT NULL COMMENT 'Login', score DECIMAL(8,2) DEFAULT 0,"
        " kind ENUM('a','b') DEFAULT 'a', doubled BIGINT AS (id * 2) VIRTUAL,"
        " UNIQUE KEY uq_email (email)) COMMENT 'People'",
        f"CREATE TABLE {q}.orders (order_no INT NOT NULL, customer_id INT NOT NULL,"
        " placed DATETIME DEFAULT CURRENT_TIMESTAMP, PRIMARY KEY (order_no, customer_id),"
        f" CONSTRAINT fk_customer FOREIGN KEY (customer_id) REFERENCES {q}.customers (id))",
        f"INSERT INTO {q}.customers (email) VALUES ('a'), ('b'), ('c')",
        f"ANALYZE TABLE {q}.customers",
        f"CREATE VIEW {q}.emails AS SELECT email FROM {q}.customers",
        f"CREATE FUNCTION {q}.total(a INT, b DECIMAL(8,2)) RETURNS DECIMAL(10,2)"
        " DETERMINISTIC COMMENT 'Sum' RETURN a + b",
        f"CREATE PROCEDURE {q}.total(IN a INT, OUT b VARCHAR(5)) SELECT a INTO b",
        f"CREATE DEFINER = mi_test_nobody@localhost PROCEDURE {q}.purge() SELECT 1",
    ]


@pytest.fixture(scope="module")
def schemas(mysql_server: MysqlServer) -> Iterator[tuple[str, str]]:
    """A schema with the catalog above, and an empty one for the DDL round trip."""
    main, fresh = mysql_server.create_schemas(2)
    try:
        mysql_server.run(*catalog_ddl(main))
        yield main, fresh
    finally:
        mysql_server.drop_schemas([fresh, main])


async def extract(server: MysqlServer, schema: str, **source: Any) -> SchemaBatch:
    config = parse_config(
        {
            "source": server.source(schema_filter={"includes": [f"^{schema}$"]}, **source),
            "sink": {"type": "jsonl", "path": "unused.jsonl"},
        }
    )
    async with Workflow(config).stream() as batches:
        (batch,) = [b async for b in batches]
    return batch


async def test_routines_field_by_field(mysql_server: MysqlServer, schemas: tuple[str, str]) -> None:
    main, _fresh = schemas
    batch = await extract(mysql_server, main)
    procedures = {p.name: p for p in batch.procedures}
    # a function and a procedure share a name: both are told apart by their kind
    assert list(procedures) == ["purge", "total (FUNCTION)", "total (PROCEDURE)"]
    function = procedures["total (FUNCTION)"]
    assert function.model_dump(exclude={"database_schema", "fqn"}) == {
        "name": "total (FUNCTION)",
        "routine_name": "total",
        "procedure_type": ProcedureType.Function,
        "language": "SQL",
        "arguments": "a int(11), b decimal(8,2)",
        "return_type": "decimal(10,2)",
        "volatility": "DETERMINISTIC",
        "definition": "RETURN a + b",
        "description": "Sum",
        "owner": None,
    }
    procedure = procedures["total (PROCEDURE)"]
    assert (procedure.procedure_type, procedure.arguments, procedure.return_type) == (
        ProcedureType.StoredProcedure,
        "IN a int(11), OUT b varchar(5)",
        None,
    )
    assert (procedures["purge"].arguments, procedures["purge"].definition) == ("", "SELECT 1")
    for routine in batch.procedures:
        assert validation_errors("storedProcedure", routine.to_openmetadata()) == [], routine.fqn
    filtered = await extract(mysql_server, main, stored_procedure_filter={"includes": ["^p"]})
    assert [p.name for p in filtered.procedures] == ["purge"]
    off = await extract(mysql_server, main, include_stored_procedures=False)
    assert off.procedures == ()


async def test_definers_are_owners(mysql_server: MysqlServer, schemas: tuple[str, str]) -> None:
    main, _fresh = schemas
    (me,) = mysql_server.run("SELECT CURRENT_USER()")
    batch = await extract(mysql_server, main, include_owners=True)
    assert {t.name: t.owner for t in batch.tables} == {
        "customers": None,  # MySQL tables have no owner
        "emails": me[0],
        "orders": None,
    }
    assert {p.name: p.owner for p in batch.procedures} == {
        "purge": NOBODY,
        "total (FUNCTION)": me[0],
        "total (PROCEDURE)": me[0],
    }
    assert batch.schema.owner is None and batch.database.owner is None


async def test_approximate_size(mysql_server: MysqlServer, schemas: tuple[str, str]) -> None:
    main, _fresh = schemas
    batch = await extract(mysql_server, main)
    rows = mysql_server.run(
        "SELECT TABLE_NAME, TABLE_ROWS, DATA_LENGTH + INDEX_LENGTH FROM information_schema.TABLES"
        f" WHERE TABLE_SCHEMA = '{main}'"
    )
    expected = {name: (rows_, size) for name, rows_, size in rows}
    sizes = {t.name: (t.row_estimate, t.size_bytes) for t in batch.tables}
    assert sizes == expected
    assert sizes["emails"] == (None, None)
    assert sizes["customers"][0] == 3  # ANALYZE TABLE made the estimate exact
    assert sizes["customers"][1] is not None and sizes["customers"][1] > 0


async def statements_so_far(connection: Any) -> int:
    async with connection.cursor() as cursor:
        await cursor.execute("SHOW SESSION STATUS LIKE 'Questions'")
        row = await cursor.fetchone()
    return int(row["Value"])


async def test_statements_per_schema_do_not_grow_with_routines(
    mysql_server: MysqlServer,
) -> None:
    names = mysql_server.create_schemas(3)
    try:
        statements = []
        for name, count in zip(names, (0, 2, 20), strict=True):
            statements += [
                f"CREATE FUNCTION {quote_mysql(name)}.f{i}(x INT) RETURNS INT DETERMINISTIC"
                " RETURN x"
                for i in range(count)
            ]
        mysql_server.run(*statements)
        config = parse_config(
            {"source": mysql_server.source(), "sink": {"type": "jsonl", "path": "x"}}
        )
        assert isinstance(config.source, MysqlSource)
        costs = {}
        for include in (True, False):
            source = config.source.model_copy(update={"include_stored_procedures": include})
            async with MysqlConnector(source) as connector:
                (database,) = await connector.list_databases()
                by_name = {s.name: s for s in await connector.list_schemas(database)}
                async with connector.connection(database) as connection:
                    for name in names:
                        before = await statements_so_far(connection)
                        batch = await connector.extract(Unit(database, by_name[name]), connection)
                        spent = await statements_so_far(connection) - before
                        costs[(include, len(batch.procedures))] = spent
        with_routines = {costs[(True, n)] for n in (0, 2, 20)}
        assert len(with_routines) == 1, costs
        # two statements for the routines, whatever their number; none when switched off
        assert with_routines == {costs[(False, 0)] + 2}
    finally:
        mysql_server.drop_schemas(names)


async def test_ddl_round_trip(mysql_server: MysqlServer, schemas: tuple[str, str]) -> None:
    """Each rendered CREATE TABLE runs in a fresh schema and re-extracts to the same table."""
    main, fresh = schemas
    batch = await extract(mysql_server, main, include_ddl=True)
    tables = {t.name: t for t in batch.tables}
    assert tables["emails"].ddl is None
    customers = tables["customers"].ddl
    assert customers is not None and customers.startswith(f"CREATE TABLE {main}.customers (")
    assert "\tid int(11) NOT NULL AUTO_INCREMENT, \n" in customers
    assert customers.endswith("COMMENT='People'")
    for table in batch.tables:
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
    order = ["customers", "orders"]
    fresh_schema = batch.schema.fqn.replace(main, fresh)
    statements = []
    for name in order:
        moved = tables[name].model_copy(update={"database_schema": fresh_schema})
        constraints = [
            c.model_copy(update={"referred_table": c.referred_table.replace(main, fresh)})
            if c.referred_table
            else c
            for c in moved.constraints
        ]
        moved = moved.model_copy(update={"constraints": tuple(constraints)})
        statements.append(str(render_create_table(moved, "mysql")))
    mysql_server.run(*statements)
    again = {t.name: t for t in (await extract(mysql_server, fresh)).tables}
    assert sorted(again) == order
    for name in order:
        before, after = tables[name], again[name]
        assert before.columns == after.columns, name
        assert [c.model_dump_json() for c in before.constraints] == [
            c.model_dump_json().replace(fresh, main) for c in after.constraints
        ], name
        assert before.description == after.description
