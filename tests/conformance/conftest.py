"""The conformance catalog built once per module on each engine, and extracted once per case.

``<engine>_target`` fixtures create the catalog (``mi_test_*`` database or schemas on the
servers, files under a temporary directory otherwise) and drop it afterwards. ``extracted``
is parametrised by ``cases.CASES``; it runs one workflow per case and keeps what it saw.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

import anyio
import pytest

from metaingest.config import parse_config
from metaingest.connectors.base import SchemaBatch
from metaingest.report import Report
from metaingest.workflow import Workflow
from tests.conftest import MysqlServer, PgServer, quote_mysql, unique_name

from .cases import CASES, Case, Target, sqlite_extra
from .catalog import CATALOG
from .ddl import ENGINES, render


@pytest.fixture(scope="module")
def postgres_target(postgres_server: PgServer) -> Iterator[Target]:
    database = postgres_server.create_database()
    try:
        quote = ENGINES["postgres"].quote
        schemas = {name: name for name in CATALOG.schemas}
        postgres_server.run(
            database,
            *(f"CREATE SCHEMA {quote(name)}" for name in schemas.values()),
            *render(CATALOG, ENGINES["postgres"], schemas),
        )
        server = postgres_server
        yield Target(
            database=database,
            schemas=schemas,
            url=f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/{database}",
            extra={
                "host": server.host,
                "port": server.port,
                "username": server.user,
                "database": database,
            },
        )
    finally:
        postgres_server.drop_database(database)


@pytest.fixture(scope="module")
def mysql_target(mysql_server: MysqlServer) -> Iterator[Target]:
    prefix = unique_name()
    schemas = {name: f"{prefix}_{name}" for name in CATALOG.schemas}
    try:
        mysql_server.run(
            *(f"CREATE DATABASE {quote_mysql(n)} CHARACTER SET utf8mb4" for n in schemas.values()),
            *render(CATALOG, ENGINES["mysql"], schemas),
        )
        server = mysql_server
        yield Target(
            database="default",
            schemas=schemas,
            url=f"mysql+aiomysql://{server.user}@{server.host}:{server.port}/?charset=utf8mb4",
            extra={"host": server.host, "port": server.port, "username": server.user},
        )
    finally:
        mysql_server.run(
            "SET FOREIGN_KEY_CHECKS = 0",
            *(f"DROP DATABASE IF EXISTS {quote_mysql(n)}" for n in schemas.values()),
        )


@pytest.fixture(scope="module")
def sqlite_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    directory = tmp_path_factory.mktemp("conformance_sqlite")
    schemas = {name: "main" if name == "core" else name for name in CATALOG.schemas}
    main = directory / "conformance.db"
    attached = {name: directory / f"schema{i}.db" for i, name in enumerate(schemas.values())}
    del attached["main"]
    connection = sqlite3.connect(main)
    try:
        for name, path in attached.items():
            connection.execute("ATTACH DATABASE ? AS ?", (str(path), name))
        for statement in render(CATALOG, ENGINES["sqlite"], schemas):
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()
    return Target(
        database="conformance",
        schemas=schemas,
        url=f"sqlite:///{main}",
        extra=sqlite_extra(main, attached),
    )


@pytest.fixture(scope="module")
def duckdb_target(tmp_path_factory: pytest.TempPathFactory) -> Target:
    import duckdb

    path = tmp_path_factory.mktemp("conformance_duckdb") / "conformance.duckdb"
    schemas = {name: name for name in CATALOG.schemas}
    quote = ENGINES["duckdb"].quote
    connection = duckdb.connect(str(path))
    try:
        for name in schemas.values():
            connection.execute(f"CREATE SCHEMA {quote(name)}")
        for statement in render(CATALOG, ENGINES["duckdb"], schemas):
            connection.execute(statement)
    finally:
        connection.close()
    return Target(database="conformance", schemas=schemas, url=f"duckdb:///{path}")


@dataclass(frozen=True)
class Extracted:
    """One case's run over the catalog."""

    case: Case
    target: Target
    batches: tuple[SchemaBatch, ...]
    report: Report


async def _run(case: Case, target: Target, out: str) -> Extracted:
    config = parse_config(
        {"source": case.source(target), "sink": {"type": "jsonl", "path": out}}, env={}
    )
    workflow = Workflow(config)
    async with workflow.stream() as stream:
        batches = tuple([batch async for batch in stream])
    return Extracted(case, target, batches, workflow.report)


_SERVER_MARKS = {"postgres": [pytest.mark.postgres], "mysql": [pytest.mark.mysql]}


@pytest.fixture(
    scope="module",
    params=[pytest.param(c, id=c.id, marks=_SERVER_MARKS.get(c.engine, [])) for c in CASES],
)
def extracted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Extracted:
    """Every batch one case extracts from its engine's catalog (one run per module)."""
    case: Case = request.param
    target: Target = request.getfixturevalue(f"{case.engine}_target")
    out = str(tmp_path_factory.mktemp("out") / "unused.jsonl")
    return anyio.run(_run, case, target, out)


@pytest.fixture(autouse=True)
def _known_bugs(request: pytest.FixtureRequest) -> None:
    """Mark a test as a strict xfail where its case lists it as a known connector bug."""
    if "extracted" not in request.fixturenames:
        return
    case = request.getfixturevalue("extracted").case
    reason = case.known_bugs.get(request.node.originalname)
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
