"""MySQL/MariaDB corners on the real server: partitioning of every method, ON UPDATE apart
from the default, FLOAT(M,D), INVISIBLE columns, the version without its 5.5.5- prefix,
unique indexes, and session settings pinned at connect.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from metaingest.config import parse_config
from metaingest.connectors.mysql import MysqlConnector
from metaingest.entities import ConstraintType, Partition, Partitioning, Table, TableType
from tests.conftest import MysqlServer, quote_mysql, unique_name

from .corners import extract

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]

DDL = (
    "CREATE TABLE by_year (id INT, created DATE) PARTITION BY RANGE (YEAR(created)) ("
    " PARTITION p2020 VALUES LESS THAN (2021), PARTITION pmax VALUES LESS THAN MAXVALUE)",
    "CREATE TABLE by_region (id INT, region INT) PARTITION BY LIST (region) ("
    " PARTITION pa VALUES IN (1,2), PARTITION pb VALUES IN (3))",
    "CREATE TABLE by_hash (id INT) PARTITION BY HASH (id) PARTITIONS 2",
    "CREATE TABLE by_linear_hash (id INT) PARTITION BY LINEAR HASH (id) PARTITIONS 2",
    "CREATE TABLE by_key (id INT PRIMARY KEY, b INT) PARTITION BY KEY () PARTITIONS 2",
    "CREATE TABLE by_key_cols (a INT, `b b` INT) PARTITION BY KEY (a, `b b`) PARTITIONS 2",
    "CREATE TABLE by_range_cols (a INT, b VARCHAR(5)) PARTITION BY RANGE COLUMNS (a, b) ("
    " PARTITION p0 VALUES LESS THAN (10, 'm'),"
    " PARTITION p1 VALUES LESS THAN (MAXVALUE, MAXVALUE))",
    "CREATE TABLE by_list_cols (c VARCHAR(3)) PARTITION BY LIST COLUMNS (c) ("
    " PARTITION p0 VALUES IN ('a', 'b'))",
    "CREATE TABLE sub (id INT, created DATE) PARTITION BY RANGE (YEAR(created))"
    " SUBPARTITION BY HASH (TO_DAYS(created)) SUBPARTITIONS 2 ("
    " PARTITION p0 VALUES LESS THAN (2000), PARTITION p1 VALUES LESS THAN MAXVALUE)",
    "CREATE TABLE cols ("
    " t TIMESTAMP NOT NULL DEFAULT '2020-01-01 00:00:00' ON UPDATE CURRENT_TIMESTAMP,"
    " t3 DATETIME(3) DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),"
    " plain TIMESTAMP NULL DEFAULT CURRENT_TIMESTAMP,"
    " f FLOAT(7,3), d DOUBLE(10,2), ff FLOAT, dd DOUBLE, dp DOUBLE PRECISION(8,1),"
    " hidden INT INVISIBLE)",
    "CREATE TABLE uniq (a INT, b INT, c INT, UNIQUE KEY uq_a (a))",
    "CREATE UNIQUE INDEX ux_bc ON uniq (b, c)",
)


@pytest.fixture(scope="module")
def schema(mysql_server: MysqlServer) -> Iterator[str]:
    name = unique_name()
    mysql_server.run(f"CREATE DATABASE {quote_mysql(name)}")
    try:
        mysql_server.run("SET time_zone = '+00:00'", f"USE {quote_mysql(name)}", *DDL)
        yield name
    finally:
        mysql_server.run(f"DROP DATABASE IF EXISTS {quote_mysql(name)}")


@pytest.fixture(scope="module")
def tables(mysql_server: MysqlServer, schema: str) -> dict[str, Table]:
    source = mysql_server.source(schema_filter={"includes": [f"^{schema}$"]})
    found = anyio.run(extract, source)
    return {name.split(".", 1)[1]: table for name, table in found.items()}


def _p(name: str, bound: str | None = None, subs: tuple[str, ...] | None = None) -> Partition:
    return Partition(name=name, bound=bound, subpartitions=subs)


def test_partitioned_tables(tables: dict[str, Table]) -> None:
    assert tables["cols"].table_type is TableType.Regular
    assert tables["cols"].partitioning is None
    want = {
        "by_year": Partitioning(
            strategy="RANGE",
            expression="RANGE (year(`created`))",
            partitions=(
                _p("p2020", "VALUES LESS THAN (2021)"),
                _p("pmax", "VALUES LESS THAN MAXVALUE"),
            ),
        ),
        "by_region": Partitioning(
            strategy="LIST",
            columns=("region",),
            expression="LIST (`region`)",
            partitions=(_p("pa", "VALUES IN (1,2)"), _p("pb", "VALUES IN (3)")),
        ),
        "by_hash": Partitioning(
            strategy="HASH",
            columns=("id",),
            expression="HASH (`id`)",
            partitions=(_p("p0"), _p("p1")),
        ),
        "by_linear_hash": Partitioning(
            strategy="LINEAR HASH",
            columns=("id",),
            expression="LINEAR HASH (`id`)",
            partitions=(_p("p0"), _p("p1")),
        ),
        "by_key": Partitioning(
            strategy="KEY", columns=("id",), expression="KEY ()", partitions=(_p("p0"), _p("p1"))
        ),
        "by_key_cols": Partitioning(
            strategy="KEY",
            columns=("a", "b b"),
            expression="KEY (`a`,`b b`)",
            partitions=(_p("p0"), _p("p1")),
        ),
        "by_range_cols": Partitioning(
            strategy="RANGE COLUMNS",
            columns=("a", "b"),
            expression="RANGE COLUMNS (`a`,`b`)",
            partitions=(
                _p("p0", "VALUES LESS THAN (10,'m')"),
                _p("p1", "VALUES LESS THAN (MAXVALUE,MAXVALUE)"),
            ),
        ),
        "by_list_cols": Partitioning(
            strategy="LIST COLUMNS",
            columns=("c",),
            expression="LIST COLUMNS (`c`)",
            partitions=(_p("p0", "VALUES IN ('a','b')"),),
        ),
        "sub": Partitioning(
            strategy="RANGE",
            expression="RANGE (year(`created`))",
            partitions=(
                _p("p0", "VALUES LESS THAN (2000)", ("p0sp0", "p0sp1")),
                _p("p1", "VALUES LESS THAN MAXVALUE", ("p1sp0", "p1sp1")),
            ),
            subpartitioning=Partitioning(strategy="HASH", expression="HASH (to_days(`created`))"),
        ),
    }
    for name, partitioning in want.items():
        assert tables[name].table_type is TableType.Partitioned, name
        assert tables[name].partitioning == partitioning, name
    payload = tables["by_range_cols"].to_openmetadata()["tablePartition"]
    assert payload == {
        "columns": [
            {"columnName": "a", "intervalType": "TIME-UNIT"},
            {"columnName": "b", "intervalType": "TIME-UNIT"},
        ]
    }


def test_column_corners(tables: dict[str, Table]) -> None:
    columns = {c.name: c for c in tables["cols"].columns}
    assert (columns["t"].default, columns["t"].on_update) == (
        "'2020-01-01 00:00:00'",
        "current_timestamp()",
    )
    assert (columns["t3"].default, columns["t3"].on_update) == (
        "current_timestamp(3)",
        "current_timestamp(3)",
    )
    assert (columns["plain"].default, columns["plain"].on_update) == ("current_timestamp()", None)
    precision_scale = {name: (c.precision, c.scale) for name, c in columns.items()}
    assert precision_scale["f"] == (7, 3)
    assert precision_scale["d"] == (10, 2)
    assert precision_scale["dp"] == (8, 1)
    assert precision_scale["ff"] == precision_scale["dd"] == (None, None)
    assert [name for name, c in columns.items() if c.invisible] == ["hidden"]
    assert all(c.invisible is None for name, c in columns.items() if name != "hidden")


def test_unique_indexes_are_constraints_already(tables: dict[str, Table]) -> None:
    """MySQL keeps every UNIQUE index as a UNIQUE constraint: CREATE UNIQUE INDEX too."""
    assert [(c.constraint_type, c.name, c.columns) for c in tables["uniq"].constraints] == [
        (ConstraintType.UNIQUE, "uq_a", ("a",)),
        (ConstraintType.UNIQUE, "ux_bc", ("b", "c")),
    ]


async def test_version_and_pinned_session(mysql_server: MysqlServer, schema: str) -> None:
    config = parse_config(
        {"source": mysql_server.source(), "sink": {"type": "jsonl", "path": "unused.jsonl"}}
    )
    async with MysqlConnector(config.source) as connector:  # type: ignore[arg-type]
        version = await connector.server_version()
        (database,) = await connector.list_databases()
        async with connector.connection(database) as connection, connection.cursor() as cursor:
            await cursor.execute("SELECT @@session.time_zone AS tz, @@session.sql_mode AS mode")
            row = await cursor.fetchone()
            raw = connection.get_server_info()
    assert raw.startswith("5.5.5-")  # MariaDB's compatibility prefix, on the wire
    assert version == "MariaDB " + raw.removeprefix("5.5.5-")
    assert "5.5.5" not in version and "-MariaDB" in version
    assert (row["tz"], row["mode"]) == ("+00:00", "")


def test_timestamp_defaults_in_utc(mysql_server: MysqlServer, schema: str) -> None:
    """A TIMESTAMP default prints in the session's time zone: pinned to UTC, it is stable."""
    query = (
        "SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS "
        f"WHERE TABLE_SCHEMA = '{schema}' AND TABLE_NAME = 'cols' AND COLUMN_NAME = 't'"
    )
    connection = mysql_server.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET time_zone = '+09:00'")
            cursor.execute(query)
            assert cursor.fetchall() == (("'2020-01-01 09:00:00'",),)
            cursor.execute("SET time_zone = '+00:00'")
            cursor.execute(query)
            assert cursor.fetchall() == (("'2020-01-01 00:00:00'",),)
    finally:
        connection.close()
