"""MariaDB: extracting a schema costs the same number of statements whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from metaingest.config import MysqlSource, parse_config
from metaingest.connectors.base import Unit
from metaingest.connectors.mysql import MysqlConnector
from tests.conftest import MysqlServer

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]


@pytest.fixture
def small_and_big(mysql_server: MysqlServer) -> Iterator[tuple[str, str]]:
    """A schema with one table and one with 25 related tables and 5 views."""
    small, big = mysql_server.create_schemas(2)
    statements = [f"CREATE TABLE `{small}`.only (id INT PRIMARY KEY, v VARCHAR(5))"]
    for i in range(25):
        statements.append(
            f"CREATE TABLE `{big}`.t{i:02d} (id INT PRIMARY KEY, code CHAR(2) UNIQUE,"
            f" parent INT, amount DECIMAL(8,2) DEFAULT 0"
            + (f", FOREIGN KEY (parent) REFERENCES `{big}`.t{i - 1:02d} (id))" if i else ")")
        )
    statements += [f"CREATE VIEW `{big}`.v{i} AS SELECT id FROM `{big}`.t{i:02d}" for i in range(5)]
    try:
        mysql_server.run(*statements)
        yield small, big
    finally:
        mysql_server.drop_schemas([small, big])


async def statements_so_far(connection: Any) -> int:
    async with connection.cursor() as cursor:
        await cursor.execute("SHOW SESSION STATUS LIKE 'Questions'")
        row = await cursor.fetchone()
    return int(row["Value"])


async def test_constant_number_of_queries_per_schema(
    mysql_server: MysqlServer, small_and_big: tuple[str, str]
) -> None:
    config = parse_config(
        {"source": mysql_server.source(), "sink": {"type": "jsonl", "path": "unused"}}
    )
    assert isinstance(config.source, MysqlSource)
    costs = {}
    async with MysqlConnector(config.source) as connector:
        (database,) = await connector.list_databases()
        schemas = {s.name: s for s in await connector.list_schemas(database)}
        async with connector.connection(database) as connection:
            for name in small_and_big:
                before = await statements_so_far(connection)
                batch = await connector.extract(Unit(database, schemas[name]), connection)
                costs[len(batch.tables)] = await statements_so_far(connection) - before
    print(f"statements per schema: {costs}")
    assert set(costs) == {1, 30}
    assert costs[1] == costs[30]
    # six catalog queries (seven on MariaDB), two for routines, and the status query itself
    assert costs[30] <= 10
