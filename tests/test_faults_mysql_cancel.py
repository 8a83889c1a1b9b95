"""MariaDB: cancelled work stops on the server too; statement timeouts and network blips are
retried (issue 19).

A unit's connection is wrapped so that, before its first catalog query, it reads a table
that another session holds under ``LOCK TABLES ... WRITE``: our statement waits on the
metadata lock, as a catalog query does behind DDL. Then the unit is cancelled, times out,
or the server's ``max_statement_time`` ends the statement.
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomysql
import anyio
import pytest

from metaingest.config import WorkflowConfig
from metaingest.connectors import create_connector
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.workflow import Workflow

from .conftest import MysqlServer, quote_mysql
from .faultkit import maria_config
from .wrappers import Delegating

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]

SCHEMAS = 3


@pytest.fixture(scope="module")
def schemas(mysql_server: MysqlServer) -> Iterator[list[str]]:
    names = mysql_server.create_schemas(SCHEMAS)
    try:
        statements = []
        for name in names:
            db = quote_mysql(name)
            statements.append(f"CREATE TABLE {db}.t (id INT PRIMARY KEY, name VARCHAR(20))")
            statements.append(f"CREATE VIEW {db}.v AS SELECT id FROM {db}.t")
        mysql_server.run(*statements)
        yield names
    finally:
        mysql_server.drop_schemas(names)


my_config = maria_config  # retries back off 0.05 s (config_of's default)


class _Cursor:
    """A cursor that first runs ``blocking`` (reading a locked table: it waits on its MDL)."""

    def __init__(self, inner: Any, blocking: str) -> None:
        self._inner = inner
        self._blocking = blocking

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def execute(self, sql: str, args: Any = None) -> Any:
        await self._inner.execute(self._blocking)
        await self._inner.fetchall()
        return await self._inner.execute(sql, args)


class _CursorContext:
    def __init__(self, inner: Any, table: str) -> None:
        self._inner = inner
        self._table = table

    async def __aenter__(self) -> _Cursor:
        return _Cursor(await self._inner.__aenter__(), self._table)

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


class _Waiting:
    def __init__(self, inner: Any, table: str) -> None:
        self.inner = inner
        self.table = table

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def cursor(self) -> _CursorContext:
        return _CursorContext(self.inner.cursor(), self.table)


class Waits(Delegating):
    """The first attempt of ``schema`` reads ``table`` before its catalog queries."""

    def __init__(self, config: WorkflowConfig, schema: str, blocking: str) -> None:
        super().__init__(create_connector(config.source))
        self.schema = schema
        self.blocking = blocking
        self.threads: list[int] = []
        self.attempts = 0

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        if unit.schema.name != self.schema:
            return await self.inner.extract(unit, connection)
        self.attempts += 1
        if self.attempts > 1:
            return await self.inner.extract(unit, connection)
        self.threads.append(connection.thread_id())
        return await self.inner.extract(unit, _Waiting(connection, self.blocking))


def _alive(server: MysqlServer, thread: int) -> list[Any]:
    return server.run(
        f"SELECT id, state, info FROM information_schema.PROCESSLIST WHERE id = {int(thread)}"
    )


async def _wait_for_blocking(server: MysqlServer, connector: Waits) -> None:
    with anyio.fail_after(20):
        while True:
            if connector.threads:
                rows = await anyio.to_thread.run_sync(_alive, server, connector.threads[0])
                if rows and connector.blocking in str(rows[0][2]):
                    return
            await anyio.sleep(0.02)


async def _gone(server: MysqlServer, thread: int, within: float = 5.0) -> bool:
    with anyio.move_on_after(within):
        while await anyio.to_thread.run_sync(_alive, server, thread):  # noqa: ASYNC110
            await anyio.sleep(0.02)
        return True
    return False


@pytest.fixture
def locker(mysql_server: MysqlServer, schemas: list[str]) -> Iterator[tuple[Any, str]]:
    """A session holding ``LOCK TABLES <schema 1>.t WRITE``; unlocked afterwards."""
    table = f"{quote_mysql(schemas[1])}.t"
    conn = mysql_server.connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"LOCK TABLES {table} WRITE")
        yield conn, table
    finally:
        conn.close()


@pytest.mark.parametrize("blocking", ["metadata lock", "sleep"])
async def test_a_cancelled_unit_leaves_no_query_on_the_server(
    mysql_server: MysqlServer,
    schemas: list[str],
    locker: tuple[Any, str],
    tmp_path: Path,
    blocking: str,
) -> None:
    _, table = locker
    # waiting on the lock, the server notices a closed client within about 0.5 s; in SLEEP
    # (or any statement that does not wait) only every 5 s, or when the statement ends
    statement = f"SELECT COUNT(*) FROM {table}" if blocking != "sleep" else "SELECT SLEEP(30)"
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, schemas, out, threads=2, unit_timeout=60)
    connector = Waits(config, schemas[1], statement)
    with anyio.CancelScope() as scope:  # as Ctrl-C does: the caller's scope is cancelled
        async with anyio.create_task_group() as tg:
            tg.start_soon(Workflow(config, connector=connector).run)
            await _wait_for_blocking(mysql_server, connector)
            scope.cancel()
    assert scope.cancelled_caught
    # the statement was killed with its unit: gone at once, not when the server notices
    assert await _gone(mysql_server, connector.threads[0], within=2.0)
    assert connector.peak_connections() <= 2
    assert not out.exists()


async def test_a_timed_out_unit_leaves_no_query_on_the_server(
    mysql_server: MysqlServer, schemas: list[str], locker: tuple[Any, str], tmp_path: Path
) -> None:
    _, table = locker
    out = tmp_path / "out.jsonl"
    config = my_config(
        mysql_server, schemas, out, threads=2, unit_timeout=1.5, retries=0, success_threshold=0
    )
    connector = Waits(config, schemas[1], f"SELECT COUNT(*) FROM {table}")
    with anyio.fail_after(30):
        report = await Workflow(config, connector=connector).run()
    [issue] = [i for i in report.issues if i.level == "error"]
    assert issue.fqn == f"maria.default.{schemas[1]}"
    # the server's bound (90 % of unit_timeout) ended it, or the unit's timeout killed it
    assert "max_statement_time" in issue.message or "timed out" in issue.message
    assert await _gone(mysql_server, connector.threads[0])
    assert report.units_ok == SCHEMAS - 1
    assert connector.peak_connections() <= 2


async def test_max_statement_time_is_retried(
    mysql_server: MysqlServer,
    schemas: list[str],
    locker: tuple[Any, str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    clean = tmp_path / "clean.jsonl"
    with anyio.fail_after(30):
        assert (await Workflow(my_config(mysql_server, schemas, clean)).run()).ok
    _, table = locker
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, schemas, out, unit_timeout=2.0, retries=2)
    connector = Waits(config, schemas[1], f"SELECT COUNT(*) FROM {table}")
    with caplog.at_level(logging.WARNING, "metaingest.runner"), anyio.fail_after(30):
        report = await Workflow(config, connector=connector).run()
    assert report.ok and report.errors == 0, report.issues
    assert connector.attempts == 2
    assert "1969" in caplog.text and "max_statement_time exceeded" in caplog.text
    assert out.read_bytes() == clean.read_bytes()


async def test_statement_bound_follows_unit_timeout(
    mysql_server: MysqlServer, schemas: list[str], tmp_path: Path
) -> None:
    seen: list[Any] = []

    class Show(Delegating):
        async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
            async with connection.cursor() as cursor:
                await cursor.execute("SELECT @@max_statement_time AS bound")
                seen.append((await cursor.fetchone())["bound"])
            return await self.inner.extract(unit, connection)

    config = my_config(mysql_server, schemas, tmp_path / "o.jsonl", unit_timeout=10)
    with anyio.fail_after(30):
        assert (await Workflow(config, connector=Show(create_connector(config.source))).run()).ok
    assert set(seen) == {9.0}


class _Flaky:
    def __init__(self, inner: Any, errors: list[BaseException]) -> None:
        self._inner = inner
        self.errors = errors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return await self._inner.connect(*args, **kwargs)


async def test_network_blips_at_connect_are_retried_on_mariadb(
    mysql_server: MysqlServer, schemas: list[str], tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    with anyio.fail_after(30):
        assert (await Workflow(my_config(mysql_server, schemas, clean)).run()).ok
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, schemas, out, retries=3)
    connector: Any = create_connector(config.source)
    connector._driver = flaky = _Flaky(  # the driver's edge
        aiomysql,
        [
            OSError(errno.EHOSTUNREACH, "No route to host"),
            OSError(errno.ENETUNREACH, "Network is unreachable"),
            socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
        ],
    )
    with anyio.fail_after(30):
        report = await Workflow(config, connector=connector).run()
    assert not flaky.errors
    assert report.ok and report.errors == 0
    assert out.read_bytes() == clean.read_bytes()


async def test_killed_mid_statement_is_retried_and_output_is_identical(
    mysql_server: MysqlServer, schemas: list[str], tmp_path: Path
) -> None:
    """``KILL CONNECTION`` while the unit's statement runs: retried on a fresh connection."""
    clean = tmp_path / "clean.jsonl"
    with anyio.fail_after(30):
        assert (await Workflow(my_config(mysql_server, schemas, clean)).run()).ok
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, schemas, out, threads=2)
    statement = f"SELECT SLEEP(20) /* {schemas[2]} */"
    connector = Waits(config, schemas[2], statement)
    async with anyio.create_task_group() as tg:

        async def kill_when_running() -> None:
            await _wait_for_blocking(mysql_server, connector)
            thread = connector.threads[0]
            await anyio.to_thread.run_sync(mysql_server.run, f"KILL CONNECTION {int(thread)}")

        tg.start_soon(kill_when_running)
        with anyio.fail_after(30):
            report = await Workflow(config, connector=connector).run()
    assert report.ok and report.errors == 0, report.issues
    assert connector.attempts == 2
    assert out.read_bytes() == clean.read_bytes()
