"""Helpers shared by the fault-injection tests (tests/test_faults_*.py) and PostgreSQL tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors import create_connector
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.report import Report
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer
from .wrappers import Delegating

Hook = Callable[[Unit, Any, int], Awaitable[None]]


def pg_ident(name: str) -> str:
    """A PostgreSQL identifier in double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def config_of(source: dict[str, Any], out: Path, **workflow: Any) -> WorkflowConfig:
    """A workflow config writing JSONL to ``out``; retries back off quickly by default."""
    settings = {"retry_backoff": 0.05, **workflow}
    return parse_config(
        {"source": source, "sink": {"type": "jsonl", "path": str(out)}, "workflow": settings}
    )


def maria_config(
    server: MysqlServer, schemas: list[str], out: Path, **source: Any
) -> WorkflowConfig:
    """A config reading ``schemas`` (MariaDB databases sharing one prefix) into ``out``;
    ``retries``, ``retry_backoff`` and ``success_threshold`` go to the workflow section."""
    keys = ("retries", "retry_backoff", "success_threshold")
    workflow = {k: source.pop(k) for k in keys if k in source}
    prefix = schemas[0].rsplit("_", 1)[0]
    filters = {"schema_filter": {"includes": [f"^{prefix}_"]}}
    return config_of(server.source(**filters, **source), out, **workflow)


class Hooked(Delegating):
    """Delegates to the real connector; awaits ``hook(unit, connection, attempt)`` first."""

    def __init__(self, config: WorkflowConfig, hook: Hook) -> None:
        super().__init__(create_connector(config.source))
        self.hook = hook
        self.attempts: dict[str, int] = {}

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        attempt = self.attempts[unit.schema.name] = self.attempts.get(unit.schema.name, 0) + 1
        await self.hook(unit, connection, attempt)
        return await self.inner.extract(unit, connection)


async def run(config: WorkflowConfig, hook: Hook | None = None) -> Report:
    """Run the workflow (through ``Hooked`` when a hook is given) within a generous bound."""
    connector = Hooked(config, hook) if hook is not None else None
    with anyio.fail_after(45):
        return await Workflow(config, connector=connector).run()


@contextmanager
def pg_databases(server: PgServer, count: int, script: str) -> Iterator[list[str]]:
    """``count`` new databases, each set up by ``script``, in name order; dropped after."""
    names: list[str] = []
    try:
        for _ in range(count):
            names.append(server.create_database())
            anyio.run(pg_execute, server, names[-1], script)
        yield sorted(names)
    finally:
        for name in names:
            server.drop_database(name)


async def pg_execute(server: PgServer, database: str, script: str) -> None:
    """Run a script of statements in ``database``."""
    conn = await asyncpg.connect(
        host=server.host, port=server.port, user=server.user, database=database
    )
    try:
        await conn.execute(script)
    finally:
        await conn.close()


@asynccontextmanager
async def pg_side(server: PgServer, database: str = "postgres", **kw: Any) -> AsyncIterator[Any]:
    """A connection outside the run, for watching and perturbing the server."""
    conn = await asyncpg.connect(
        host=server.host, port=server.port, database=database, **{"user": server.user, **kw}
    )
    try:
        yield conn
    finally:
        await conn.close()


async def run_with_namespace_locked(
    server: PgServer, database: str, config: WorkflowConfig, hold: float = 0.6
) -> Report:
    """Run ``config`` while another session holds pg_namespace for ``hold`` seconds: schema
    listings wait on it until statement_timeout cancels them (a transient error)."""
    async with pg_side(server, database) as locker:
        lock = locker.transaction()
        await lock.start()
        await locker.execute("LOCK TABLE pg_catalog.pg_namespace IN ACCESS EXCLUSIVE MODE")

        async def release() -> None:
            await anyio.sleep(hold)
            await lock.rollback()

        async with anyio.create_task_group() as tg:
            tg.start_soon(release)
            return await run(config)


async def pg_wait_gone(side: Any, application_name: str, within: float = 2.0) -> int:
    """Poll pg_stat_activity until the run's connections are gone; the last count seen."""
    count = -1
    with anyio.move_on_after(within):
        while count != 0:
            count = await side.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                application_name,
            )
            if count:
                await anyio.sleep(0.02)
    return count
