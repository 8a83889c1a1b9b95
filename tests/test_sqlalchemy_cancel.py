"""Sync drivers in worker threads: a blocked call no longer holds a cancelled or timed-out
unit (issue 19). The thread is abandoned, the driver's timeout or interrupt ends the call,
and the worker drops the connection itself."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors import create_connector
from metaingest.workflow import Workflow

from .conftest import MysqlServer, quote_mysql

pytestmark = pytest.mark.anyio


def config(
    url: str, out: Path, workflow: dict[str, Any] | None = None, **source: Any
) -> WorkflowConfig:
    return parse_config(
        {
            "source": {"type": "sqlalchemy", "url": url, "service_name": "sa", **source},
            "sink": {"type": "jsonl", "path": str(out)},
            "workflow": {"retry_backoff": 0.05, **(workflow or {})},
        }
    )


def slow_first_reflection(connector: Any, schema: str, statement: str) -> list[int]:
    """Make the first reflection of ``schema`` run ``statement`` first; count the calls."""
    calls: list[int] = []
    reflect = connector._reflect

    def slow(connection: Any, name: str) -> Any:
        if name == schema:
            calls.append(1)
            if len(calls) == 1:
                connection.exec_driver_sql(statement).fetchall()
        return reflect(connection, name)

    connector._reflect = slow
    return calls


async def wait_until(predicate: Any, within: float = 20.0) -> None:
    with anyio.fail_after(within):
        while not await anyio.to_thread.run_sync(predicate):  # noqa: ASYNC110 - polls
            await anyio.sleep(0.05)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    path = tmp_path / "cat.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
        db.execute("CREATE VIEW v AS SELECT id FROM t")
    return path


ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


async def test_sqlite_cancelled_mid_query_is_interrupted_and_dropped(
    sqlite_file: Path, tmp_path: Path
) -> None:
    cfg = config(f"sqlite:///{sqlite_file}", tmp_path / "out.jsonl")
    connector: Any = create_connector(cfg.source)
    calls = slow_first_reflection(connector, "main", ENDLESS)
    with anyio.fail_after(20), anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(Workflow(cfg, connector=connector).run)
            await wait_until(lambda: bool(calls))
            await anyio.sleep(0.2)  # inside the endless query now
            scope.cancel()
    assert scope.cancelled_caught  # the run returned although the query never ends by itself
    # sqlite3's interrupt() ended it: the worker dropped its connection
    await wait_until(lambda: connector._open == 0)
    assert not (tmp_path / "out.jsonl").exists()


async def test_sqlite_unit_timeout_abandons_the_call_and_retries(
    sqlite_file: Path, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    with anyio.fail_after(20):
        assert (await Workflow(config(f"sqlite:///{sqlite_file}", clean)).run()).ok
    out = tmp_path / "out.jsonl"
    cfg = config(f"sqlite:///{sqlite_file}", out, {"retries": 1}, unit_timeout=1.0)
    connector: Any = create_connector(cfg.source)
    calls = slow_first_reflection(connector, "main", ENDLESS)
    with anyio.fail_after(20):
        report = await Workflow(cfg, connector=connector).run()
    assert len(calls) == 2
    assert report.ok and report.errors == 0, report.issues
    assert [u.attempts for u in report.units] == [2]
    assert out.read_bytes() == clean.read_bytes()


def test_sqlite_busy_timeout_follows_unit_timeout(sqlite_file: Path, tmp_path: Path) -> None:
    cfg = config(f"sqlite:///{sqlite_file}", tmp_path / "o.jsonl", unit_timeout=7)
    connector: Any = create_connector(cfg.source)
    assert connector._engine_options()["connect_args"] == {"timeout": 7.0}
    cfg = config(
        f"sqlite:///{sqlite_file}",
        tmp_path / "o.jsonl",
        unit_timeout=7,
        connect_args={"timeout": 1},
    )
    assert create_connector(cfg.source)._engine_options()["connect_args"] == {"timeout": 1}  # type: ignore[attr-defined]


@pytest.fixture
def my_schema(mysql_server: MysqlServer) -> Iterator[str]:
    [name] = mysql_server.create_schemas(1)
    try:
        mysql_server.run(f"CREATE TABLE {quote_mysql(name)}.t (id INT PRIMARY KEY)")
        yield name
    finally:
        mysql_server.drop_schemas([name])


def _sleeping(server: MysqlServer, marker: str) -> bool:
    rows = server.run(
        f"SELECT count(*) FROM information_schema.PROCESSLIST WHERE info = '{marker}'"
    )
    return bool(rows[0][0])


@pytest.mark.mysql
async def test_pymysql_unit_timeout_abandons_the_thread_and_read_timeout_ends_the_call(
    mysql_server: MysqlServer, my_schema: str, tmp_path: Path
) -> None:
    url = f"mysql+pymysql://{mysql_server.user}@{mysql_server.host}:{mysql_server.port}/"
    filters = {"schema_filter": {"includes": [f"^{my_schema}$"]}}
    clean = tmp_path / "clean.jsonl"
    with anyio.fail_after(20):
        assert (await Workflow(config(url, clean, **filters)).run()).ok
    out = tmp_path / "out.jsonl"
    cfg = config(url, out, {"retries": 1}, unit_timeout=1.5, **filters)
    connector: Any = create_connector(cfg.source)
    marker = f"SELECT SLEEP(30) /* {my_schema} */"  # unique in the server's process list
    calls = slow_first_reflection(connector, my_schema, marker)
    with anyio.fail_after(25):  # without abandoning, the unit would wait the whole 30 s
        report = await Workflow(cfg, connector=connector).run()
    assert len(calls) == 2
    assert report.ok and report.errors == 0, report.issues
    assert out.read_bytes() == clean.read_bytes()
    # read_timeout (from unit_timeout) ended the call: the worker dropped its connection, and
    # the server ends the statement when it notices (MariaDB checks every few seconds)
    await wait_until(lambda: connector._open == 0)
    await wait_until(lambda: not _sleeping(mysql_server, marker))


def _closed(connection: sqlite3.Connection) -> bool:
    try:
        connection.total_changes  # noqa: B018 - raises once the connection is closed
    except sqlite3.ProgrammingError:
        return True
    return False


@pytest.mark.parametrize("cancel", ["caller", "unit_timeout"])
async def test_sqlite_source_abandons_a_blocked_unit(
    sqlite_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cancel: str
) -> None:
    """The ``sqlite`` source type (sqlite3 in worker threads, no SQLAlchemy) too."""
    from metaingest.connectors import sqlite as module

    clean = tmp_path / "clean.jsonl"
    source = {"type": "sqlite", "path": str(sqlite_file), "service_name": "lite"}
    doc = {"source": source, "sink": {"type": "jsonl", "path": str(clean)}}
    with anyio.fail_after(20):
        assert (await Workflow(parse_config(doc)).run()).ok
    out = tmp_path / "out.jsonl"
    options = {"unit_timeout": 1.0} if cancel == "unit_timeout" else {}
    doc = {
        "source": {**source, **options},
        "sink": {"type": "jsonl", "path": str(out)},
        "workflow": {"retries": 1, "retry_backoff": 0.05},
    }
    blocked: list[sqlite3.Connection] = []
    extract = module._extract

    def slow(connection: sqlite3.Connection, unit: Any) -> Any:
        if not blocked:
            blocked.append(connection)
            connection.execute(ENDLESS).fetchall()
        return extract(connection, unit)

    monkeypatch.setattr(module, "_extract", slow)
    with anyio.fail_after(20), anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def go() -> None:
                report = await Workflow(parse_config(doc)).run()
                assert report.ok and [u.attempts for u in report.units] == [2]
                scope.cancel()  # done

            tg.start_soon(go)
            if cancel == "caller":
                await wait_until(lambda: bool(blocked))
                await anyio.sleep(0.2)  # inside the endless query now
                scope.cancel()
    # interrupted, then closed by its own worker thread
    await wait_until(lambda: _closed(blocked[0]))
    if cancel == "unit_timeout":
        assert out.read_bytes() == clean.read_bytes()
    else:
        assert not out.exists()
