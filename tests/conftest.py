"""Shared fixtures: real PostgreSQL and MariaDB servers on loopback, throwaway databases.

Every test database is named ``mi_test_<random>`` and dropped afterwards. When a server is
not reachable, its tests are skipped — unless ``METAINGEST_REQUIRE_SERVICES=1`` (set by CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

REQUIRE_SERVICES = os.environ.get("METAINGEST_REQUIRE_SERVICES") == "1"
PG_HOST = os.environ.get("METAINGEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("METAINGEST_PG_PORT", "5432"))
PG_USER = os.environ.get("METAINGEST_PG_USER", "postgres")
MYSQL_HOST = os.environ.get("METAINGEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("METAINGEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("METAINGEST_MYSQL_USER", "root")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def unavailable(what: str, exc: BaseException) -> None:
    message = f"{what} is not reachable: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(message + " (METAINGEST_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(message)


def unique_name(prefix: str = "mi_test_") -> str:
    return prefix + uuid.uuid4().hex[:10]


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class PgServer:
    """The PostgreSQL server on loopback, driven synchronously for fixtures."""

    host: str = PG_HOST
    port: int = PG_PORT
    user: str = PG_USER

    def run(self, database: str, *statements: str) -> list[Any]:
        """Execute statements in ``database``; return the rows of the last one."""

        async def go() -> list[Any]:
            import asyncpg

            conn = await asyncpg.connect(
                host=self.host, port=self.port, user=self.user, database=database, timeout=10
            )
            try:
                rows: list[Any] = []
                for statement in statements:
                    rows = list(await conn.fetch(statement))
                return rows
            finally:
                await conn.close()

        return anyio.run(go)

    def create_database(self) -> str:
        name = unique_name()
        self.run("postgres", f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.run("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def source(self, database: str | None = None, **extra: Any) -> dict[str, Any]:
        """A `source:` mapping for this server."""
        out: dict[str, Any] = {
            "type": "postgres",
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "service_name": "pg",
        }
        if database is not None:
            out["database"] = database
        out.update(extra)
        return out


@pytest.fixture(scope="session")
def postgres_server() -> PgServer:
    server = PgServer()
    try:
        server.run("postgres", "SELECT 1")
    except Exception as exc:
        unavailable(f"PostgreSQL at {server.host}:{server.port}", exc)
    return server


@pytest.fixture
def pg_database(postgres_server: PgServer) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def quote_mysql(name: str) -> str:
    """A MySQL identifier in backticks, inner backticks doubled."""
    return "`" + name.replace("`", "``") + "`"


@dataclass
class MysqlServer:
    """The MariaDB/MySQL server on loopback, driven synchronously (PyMySQL) for fixtures."""

    host: str = MYSQL_HOST
    port: int = MYSQL_PORT
    user: str = MYSQL_USER

    def connect(self) -> Any:
        import pymysql

        return pymysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password="",
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=10,
        )

    def run(self, *statements: str) -> list[Any]:
        """Execute statements; return the rows of the last one."""
        conn = self.connect()
        try:
            rows: list[Any] = []
            with conn.cursor() as cur:
                for statement in statements:
                    cur.execute(statement)
                    rows = list(cur.fetchall())
            return rows
        finally:
            conn.close()

    def create_schemas(self, count: int = 1) -> list[str]:
        """Create ``count`` fresh databases (MySQL schemas) sharing one random prefix."""
        prefix = unique_name()
        names = [f"{prefix}_{i}" for i in range(count)]
        self.run(*(f"CREATE DATABASE {quote_mysql(n)} CHARACTER SET utf8mb4" for n in names))
        return names

    def drop_schemas(self, names: list[str]) -> None:
        self.run(*(f"DROP DATABASE IF EXISTS {quote_mysql(n)}" for n in names))

    def source(self, **extra: Any) -> dict[str, Any]:
        """A `source:` mapping for this server."""
        out: dict[str, Any] = {
            "type": "mysql",
            "host": self.host,
            "port": self.port,
            "username": self.user,
            "service_name": "maria",
        }
        out.update(extra)
        return out


@pytest.fixture(scope="session")
def mysql_server() -> MysqlServer:
    server = MysqlServer()
    try:
        server.run("SELECT 1")
    except Exception as exc:
        unavailable(f"MariaDB at {server.host}:{server.port}", exc)
    return server
