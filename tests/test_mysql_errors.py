"""MySQL / MariaDB connector: discovery errors, missing driver, defaults, server warnings."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metaingest.config import MysqlSource, WorkflowConfig, parse_config
from metaingest.connectors import create_connector
from metaingest.connectors.base import Unit
from metaingest.connectors.mysql import MysqlConnector, ServerInfo, _Builder, normalize_default
from metaingest.entities import Database, DatabaseSchema, DataType
from metaingest.errors import MissingDependencyError, SourceError
from metaingest.workflow import Workflow
from tests.conftest import MysqlServer, free_port

PASSWORD = "Right-" + uuid.uuid4().hex
WRONG = "Wrong-" + uuid.uuid4().hex


def source(**values: Any) -> MysqlSource:
    config = parse_config(
        {"source": {"type": "mariadb", **values}, "sink": {"type": "jsonl", "path": "x"}}
    )
    assert isinstance(config.source, MysqlSource)
    return config.source


def one_schema(mysql_server: MysqlServer, name: str, tmp_path: Path) -> WorkflowConfig:
    """A workflow config for schema ``name`` only, writing JSONL into ``tmp_path``."""
    return parse_config(
        {
            "source": mysql_server.source(schema_filter={"includes": [f"^{name}$"]}),
            "sink": {"type": "jsonl", "path": str(tmp_path / "out.jsonl")},
        }
    )


@pytest.fixture
def user_with_password(mysql_server: MysqlServer) -> Iterator[str]:
    user = "mi_test_p" + uuid.uuid4().hex[:8]
    mysql_server.run(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'")
    try:
        yield user
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.anyio
async def test_refused_port_is_a_source_error(mysql_server: MysqlServer, tmp_path: Path) -> None:
    port = free_port()
    config = parse_config(
        {
            "source": mysql_server.source(port=port, password=WRONG, connect_timeout=5),
            "sink": {"type": "jsonl", "path": str(tmp_path / "out.jsonl")},
        }
    )
    with pytest.raises(SourceError) as caught:
        await Workflow(config).run()
    message = str(caught.value)
    assert f"127.0.0.1:{port}" in message
    assert WRONG not in message
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.anyio
@pytest.mark.mysql
async def test_wrong_password_is_a_source_error(
    mysql_server: MysqlServer, user_with_password: str
) -> None:
    connector = MysqlConnector(
        source(
            host=mysql_server.host,
            port=mysql_server.port,
            username=user_with_password,
            password=WRONG,
        )
    )
    async with connector:
        with pytest.raises(SourceError) as caught:
            await connector.list_databases()
    message = str(caught.value)
    assert f"{mysql_server.host}:{mysql_server.port}" in message
    assert user_with_password in message
    assert "Access denied" in message
    assert WRONG not in message
    assert PASSWORD not in message


@pytest.mark.anyio
@pytest.mark.mysql
async def test_right_password_connects(mysql_server: MysqlServer, user_with_password: str) -> None:
    url = f"mysql://{user_with_password}:{PASSWORD}@{mysql_server.host}:{mysql_server.port}"
    async with MysqlConnector(source(url=url)) as connector:
        (database,) = await connector.list_databases()
        assert database.fqn == "mariadb.default"
        schemas = await connector.list_schemas(database)
        assert "information_schema" in {s.name for s in schemas}
        assert connector.peak_connections() == 1
    await connector.aclose()  # idempotent


@pytest.mark.anyio
async def test_unknown_host_is_a_source_error() -> None:
    connector = MysqlConnector(source(host="no-such-host.invalid", port=3307, password=WRONG))
    async with connector:
        with pytest.raises(SourceError, match=r"no-such-host\.invalid:3307") as caught:
            await connector.list_databases()
    assert WRONG not in str(caught.value)


def test_missing_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aiomysql", None)
    with pytest.raises(MissingDependencyError) as caught:
        create_connector(source())
    assert (caught.value.module, caught.value.extra) == ("aiomysql", "mysql")


@pytest.mark.parametrize(
    ("raw", "data_type", "extra", "expected"),
    [
        # MySQL 8: bare literals, SQL NULL for DEFAULT NULL, DEFAULT_GENERATED expressions
        (None, DataType.VARCHAR, "", None),
        ("abc", DataType.VARCHAR, "", "'abc'"),
        ("NULL", DataType.VARCHAR, "", "'NULL'"),
        ("", DataType.VARCHAR, "", "''"),
        ("it's", DataType.VARCHAR, "", "'it''s'"),
        ("a\\b", DataType.VARCHAR, "", "'a\\\\b'"),
        ("5", DataType.INT, "", "5"),
        ("1.50", DataType.DECIMAL, "", "1.50"),
        ("b'101'", DataType.BIT, "", "b'101'"),
        ("2020-01-31", DataType.DATE, "", "'2020-01-31'"),
        ("CURRENT_TIMESTAMP", DataType.TIMESTAMP, "DEFAULT_GENERATED", "CURRENT_TIMESTAMP"),
        ("CURRENT_TIMESTAMP(6)", DataType.DATETIME, "", "CURRENT_TIMESTAMP(6)"),
        ("(rand() * 10)", DataType.DOUBLE, "DEFAULT_GENERATED", "(rand() * 10)"),
        ("red,blue", DataType.SET, "", "'red,blue'"),
    ],
)
def test_mysql8_defaults_normalise_like_mariadb(
    raw: str | None, data_type: DataType, extra: str, expected: str | None
) -> None:
    assert normalize_default(raw, data_type, extra, quoted=False) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, None), ("NULL", None), ("'NULL'", "'NULL'"), ("'abc'", "'abc'"), ("5", "5")],
)
def test_mariadb_defaults(raw: str | None, expected: str | None) -> None:
    assert normalize_default(raw, DataType.VARCHAR, "", quoted=True) == expected


def test_server_flavour() -> None:
    assert ServerInfo.parse("10.11.19-MariaDB-0+deb12u1").quotes_defaults
    assert ServerInfo.parse("5.5.5-10.6.2-MariaDB-log").mariadb == (10, 6, 2)
    assert not ServerInfo.parse("10.2.6-MariaDB").quotes_defaults
    assert ServerInfo.parse("8.0.36").mariadb is None


@pytest.mark.anyio
async def test_builder_keeps_supplementary_characters() -> None:
    """The server may store emoji as "?", but the connector passes utf8mb4 text as is."""
    database = Database(name="default", service="svc")
    unit = Unit(database, DatabaseSchema(name="s", database=database.fqn))
    column = {
        "table_schema": "s",
        "table_name": "t",
        "name": "c 😀",
        "ordinal_position": 1,
        "column_type": "varchar(4)",
        "char_length": 4,
        "numeric_precision": None,
        "numeric_scale": None,
        "is_nullable": "NO",
        "column_default": "'🎉'",
        "extra": "",
        "generation_expression": None,
        "comment": "émoji 😀".encode(),
    }
    rows: dict[str, list[Any]] = {
        "tables": [{"table_name": "t", "table_type": "BASE TABLE", "comment": "表 🎉"}],
        "columns": [column],
        "constraints": [],
        "key_columns": [],
        "views": [],
    }
    (table,) = await _Builder("svc", unit, ServerInfo.parse("10.11.0-MariaDB")).tables(rows)
    assert table.description == "表 🎉"
    assert (table.columns[0].name, table.columns[0].description) == ("c 😀", "émoji 😀")
    assert table.columns[0].default == "'🎉'"
    assert table.columns[0].data_length == 4


@pytest.mark.anyio
@pytest.mark.mysql
async def test_server_warnings_become_issues(mysql_server: MysqlServer, tmp_path: Path) -> None:
    """A broken view makes information_schema warn; that is the view's issue, not a crash."""
    (name,) = mysql_server.create_schemas(1)
    try:
        mysql_server.run(
            f"CREATE TABLE `{name}`.gone (a INT)",
            f"CREATE VIEW `{name}`.broken AS SELECT a FROM `{name}`.gone",
            f"DROP TABLE `{name}`.gone",
            f"CREATE TABLE `{name}`.fine (a INT)",
        )
        config = one_schema(mysql_server, name, tmp_path)
        report = await Workflow(config).run()
    finally:
        mysql_server.drop_schemas([name])
    # the broken view is named by its own FQN and not delivered with zero columns
    assert (report.units_ok, report.tables, report.views) == (1, 1, 0)
    assert [(i.level, i.fqn) for i in report.issues] == [
        ("warning", f"maria.default.{name}.broken")
    ]
    assert "references invalid table" in report.issues[0].message


@pytest.mark.anyio
@pytest.mark.mysql
async def test_names_that_differ_only_in_case(mysql_server: MysqlServer, tmp_path: Path) -> None:
    """Tables T and t (and their keys) stay apart although information_schema is ci."""
    (name,) = mysql_server.create_schemas(1)
    try:
        mysql_server.run(
            f"CREATE TABLE `{name}`.T (upper_id INT PRIMARY KEY)",
            f"CREATE TABLE `{name}`.t (lower_id INT, UNIQUE KEY PRIMARY_ish (lower_id))",
        )
        config = one_schema(mysql_server, name, tmp_path)
        tables = []
        async with Workflow(config).stream() as batches:
            async for batch in batches:
                tables.extend(batch.tables)
    finally:
        mysql_server.drop_schemas([name])
    assert [t.name for t in tables] == ["T", "t"]
    assert [c.name for c in tables[0].columns] == ["upper_id"]
    assert [c.name for c in tables[1].columns] == ["lower_id"]
    assert [(c.name, c.columns) for c in tables[0].constraints] == [("PRIMARY", ("upper_id",))]
    assert [(c.name, c.columns) for c in tables[1].constraints] == [("PRIMARY_ish", ("lower_id",))]
