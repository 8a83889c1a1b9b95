"""``test-connection`` against the real servers: success, and one clear message per mistake."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.check import check_connection, diagnose
from metaingest.config import parse_config
from metaingest.connectors.base import Unit
from metaingest.connectors.postgres import PostgresConnector

from .clikit import run_cli, write_workflow
from .conftest import MysqlServer, PgServer, free_port, quote_mysql, unique_name


def run_check(tmp_path: Path, source: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    workflow = write_workflow(tmp_path / "check.yaml", source, tmp_path / "out.jsonl")
    return run_cli("test-connection", "-c", str(workflow))


@pytest.fixture
def mysql_user(mysql_server: MysqlServer) -> Iterator[tuple[str, str]]:
    """A MariaDB user with a password and SELECT on one schema; dropped afterwards."""
    user, password = unique_name(), "mi-test-" + unique_name("pw")
    [schema] = mysql_server.create_schemas(1)
    mysql_server.run(
        f"CREATE USER {quote_mysql(user)}@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON {quote_mysql(schema)}.* TO {quote_mysql(user)}@'%'",
    )
    try:
        yield user, password
    finally:
        mysql_server.run(f"DROP USER IF EXISTS {quote_mysql(user)}@'%'")
        mysql_server.drop_schemas([schema])


@pytest.mark.postgres
def test_postgres_ok(postgres_server: PgServer, pg_database: str, tmp_path: Path) -> None:
    postgres_server.run(pg_database, "CREATE SCHEMA mi_s1", "CREATE TABLE mi_s1.t (id int)")
    result = run_check(tmp_path, postgres_server.source(pg_database))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    out = result.stdout
    assert out.startswith("postgres at 127.0.0.1:5432: connected, server version PostgreSQL ")
    assert "mi_s1" in out and "public" in out
    assert "pg_catalog" in out and "filtered" in out
    assert "NOT READABLE" not in out
    assert "ok: all 2 schemas a run needs are readable" in out


@pytest.mark.mysql
def test_mariadb_ok(mysql_server: MysqlServer, tmp_path: Path) -> None:
    # only this test's schema and the system ones: other suites on the same server create
    # and drop schemas meanwhile, and one dropped between listing and probing is unreadable
    (mine,) = mysql_server.create_schemas(1)
    try:
        source = mysql_server.source(
            schema_filter={"includes": [f"^{mine}$", "^information_schema$"]}
        )
        result = run_check(tmp_path, source)
    finally:
        mysql_server.drop_schemas([mine])
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert "mysql at 127.0.0.1:3306: connected, server version " in result.stdout
    assert "readable" in result.stdout
    assert "information_schema" in result.stdout  # listed, as filtered


@pytest.mark.mysql
def test_mariadb_user_with_password(
    mysql_server: MysqlServer, mysql_user: tuple[str, str], tmp_path: Path
) -> None:
    user, password = mysql_user
    good = run_check(tmp_path, mysql_server.source(username=user, password=password))
    assert good.returncode == 0, good.stderr
    assert "ok: all 1 schemas a run needs are readable" in good.stdout

    bad = run_check(tmp_path, mysql_server.source(username=user, password=password + "x"))
    assert (bad.returncode, bad.stdout) == (2, "")
    assert bad.stderr.startswith("metaingest: error: cannot connect to mysql at 127.0.0.1:3306")
    assert "Access denied" in bad.stderr
    assert bad.stderr.endswith(f"(wrong password or user? access denied for user '{user}')\n")
    assert password not in bad.stderr


@pytest.mark.postgres
def test_postgres_wrong_port(postgres_server: PgServer, tmp_path: Path) -> None:
    port = free_port()
    result = run_check(tmp_path, postgres_server.source("postgres", port=port))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"metaingest: error: PostgreSQL at 127.0.0.1:{port}, database 'postgres': "
        f"Connection refused (wrong port? nothing accepts connections at 127.0.0.1:{port})\n"
    )


@pytest.mark.mysql
def test_mariadb_wrong_port(mysql_server: MysqlServer, tmp_path: Path) -> None:
    port = free_port()
    result = run_check(tmp_path, mysql_server.source(port=port))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.endswith(
        f"(wrong port? nothing accepts connections at 127.0.0.1:{port})\n"
    )


@pytest.mark.postgres
def test_postgres_wrong_database(postgres_server: PgServer, tmp_path: Path) -> None:
    missing = unique_name()
    result = run_check(tmp_path, postgres_server.source(missing))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"metaingest: error: PostgreSQL at 127.0.0.1:5432, database '{missing}': "
        f'database "{missing}" does not exist '
        "(wrong database? it does not exist on the server)\n"
    )


def test_wrong_host_is_named_without_a_lookup() -> None:
    """A DNS failure (built here: the test resolves nothing) points at the host."""
    error = RuntimeError("cannot connect")
    error.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert diagnose(error, "db.example", 5432, "u") == "wrong host? 'db.example' cannot be resolved"
    assert diagnose(RuntimeError("other"), "h", 1, "u") is None


@pytest.mark.postgres
def test_an_unreadable_schema_fails_the_check(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    """A schema that vanishes between discovery and probe is reported, and the check fails."""
    postgres_server.run(pg_database, "CREATE SCHEMA mi_gone")
    config = parse_config(
        {
            "source": postgres_server.source(pg_database),
            "sink": {"type": "jsonl", "path": str(tmp_path / "o.jsonl")},
        }
    )

    class Vanishing(PostgresConnector):
        async def probe(self, unit: Unit, connection: Any) -> None:
            if unit.schema.name == "mi_gone":
                await connection.execute("DROP SCHEMA mi_gone")
            await super().probe(unit, connection)

    result = anyio.run(check_connection, config, Vanishing(config.source))  # type: ignore[arg-type]
    assert not result.ok
    rows = {row.schema: row for row in result.rows}
    assert rows["mi_gone"].status == "failed"
    assert rows["mi_gone"].detail == "LookupError: schema 'mi_gone' not found"
    assert rows["public"].status == "ok"
