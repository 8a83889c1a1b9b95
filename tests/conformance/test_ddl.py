"""``include_ddl`` on the conformance catalog: every connector's CREATE TABLE round-trips.

For each case, the tables it extracted are rendered for its dialect (``metaingest.ddl``), run
on a fresh, empty target of the same engine (a new database, new MariaDB schemas, new files),
and extracted again by the same case: every column, field by field, and every constraint
must come back the same. PostgreSQL and DuckDB keep comments apart from CREATE TABLE
(COMMENT ON), so column comments are not compared there.
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import anyio
import pytest

from metaingest.config import parse_config
from metaingest.ddl import dialect_name, render_create_table
from metaingest.entities import Table, build_fqn, split_fqn
from tests.conftest import MysqlServer, PgServer, quote_mysql, unique_name
from tests.openmetadata import validation_errors

from .cases import SERVICE, Target
from .catalog import CATALOG
from .conftest import Extracted, _run
from .ddl import ENGINES
from .test_conformance import actual


def _relocate(table: Table, database: str, schemas: dict[str, str]) -> Table:
    """The table as it would be in ``database`` with physical schemas renamed by ``schemas``."""

    def move(fqn: str) -> str:
        *_, schema, name = split_fqn(fqn)
        return build_fqn(SERVICE, database, schemas.get(schema, schema), name)

    schema = split_fqn(table.database_schema)[-1]
    constraints = [
        c.model_copy(update={"referred_table": move(c.referred_table)})
        if c.referred_table is not None
        else c
        for c in table.constraints
    ]
    return table.model_copy(
        update={
            "database_schema": build_fqn(SERVICE, database, schemas.get(schema, schema)),
            "constraints": tuple(constraints),
        }
    )


def _in_order(ex: Extracted) -> list[Table]:
    """The extracted base tables, referred tables first (the catalog's own order)."""
    found = actual(ex)
    return [found[(t.schema, t.name)] for t in CATALOG.tables if (t.schema, t.name) in found]


def _run_postgres(server: PgServer, ex: Extracted, database: str, ddl: list[str]) -> Target:
    quote = ENGINES["postgres"].quote
    server.run(database, *(f"CREATE SCHEMA {quote(s)}" for s in ex.target.schemas.values()), *ddl)
    old = ex.target.database
    return replace(
        ex.target,
        database=database,
        url=ex.target.url.replace(f"/{old}", f"/{database}"),
        extra={**ex.target.extra, "database": database},
    )


def _run_mysql(
    server: MysqlServer, ex: Extracted, renamed: dict[str, str], ddl: list[str]
) -> Target:
    server.run(
        *(f"CREATE DATABASE {quote_mysql(n)} CHARACTER SET utf8mb4" for n in renamed.values()),
        *ddl,
    )
    logical = {p: name for name, p in ex.target.schemas.items()}
    return replace(ex.target, schemas={logical[p]: n for p, n in renamed.items()})


def _run_sqlite(directory: Path, ex: Extracted, ddl: list[str]) -> Target:
    main = directory / Path(ex.target.extra["path"]).name
    attach = ex.target.extra["attach"]
    attached = {name: directory / Path(path).name for name, path in attach.items()}
    connection = sqlite3.connect(main)
    try:
        for name, path in attached.items():
            connection.execute("ATTACH DATABASE ? AS ?", (str(path), name))
        for statement in ddl:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()
    extra = {"path": str(main), "attach": {k: str(v) for k, v in attached.items()}}
    return replace(ex.target, url=f"sqlite:///{main}", extra=extra)


def _run_duckdb(directory: Path, ex: Extracted, ddl: list[str]) -> Target:
    import duckdb

    path = directory / Path(ex.target.url.removeprefix("duckdb:///")).name
    quote = ENGINES["duckdb"].quote
    connection = duckdb.connect(str(path))
    try:
        for name in ex.target.schemas.values():
            connection.execute(f"CREATE SCHEMA {quote(name)}")
        for statement in ddl:
            connection.execute(statement)
    finally:
        connection.close()
    return replace(ex.target, url=f"duckdb:///{path}")


def test_ddl_round_trips(
    extracted: Extracted, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    ex = extracted
    config = {"source": ex.case.source(ex.target), "sink": {"type": "jsonl", "path": "x"}}
    dialect = dialect_name(parse_config(config).source)
    tables = _in_order(ex)
    engine = ex.case.engine
    database, renamed = ex.target.database, {}
    # the fresh target: a new database (PostgreSQL), new schemas (MariaDB), new files
    if engine == "postgres":
        pg: PgServer = request.getfixturevalue("postgres_server")
        database = pg.create_database()
        request.addfinalizer(lambda: pg.drop_database(database))
    elif engine == "mysql":
        my: MysqlServer = request.getfixturevalue("mysql_server")
        prefix = unique_name()
        renamed = {p: f"{prefix}_{i}" for i, p in enumerate(ex.target.schemas.values())}
        request.addfinalizer(
            lambda: my.run(
                "SET FOREIGN_KEY_CHECKS = 0",
                *(f"DROP DATABASE IF EXISTS {quote_mysql(n)}" for n in renamed.values()),
            )
        )
    moved = [_relocate(t, database, renamed) for t in tables]
    ddl = []
    for table in moved:
        rendered = render_create_table(table, dialect)
        assert rendered is not None and rendered.startswith("CREATE TABLE "), table.fqn
        payload = table.model_copy(update={"ddl": rendered}).to_openmetadata()
        assert payload["schemaDefinition"] == rendered
        assert validation_errors("table", payload) == [], table.fqn
        ddl.append(rendered)
    if engine == "postgres":
        target = _run_postgres(pg, ex, database, ddl)
    elif engine == "mysql":
        target = _run_mysql(my, ex, renamed, ddl)
    elif engine == "sqlite":
        target = _run_sqlite(tmp_path, ex, ddl)
    else:
        target = _run_duckdb(tmp_path, ex, ddl)
    again = {t.fqn: t for t in _in_order(anyio.run(_run, ex.case, target, str(tmp_path / "o")))}
    assert sorted(again) == sorted(t.fqn for t in moved)
    for table in moved:
        after = again[table.fqn]
        columns = table.columns
        if engine in ("postgres", "duckdb"):  # comments are COMMENT ON statements there
            columns = tuple(c.model_copy(update={"description": None}) for c in columns)
        assert columns == after.columns, table.fqn
        assert table.constraints == after.constraints, table.fqn
