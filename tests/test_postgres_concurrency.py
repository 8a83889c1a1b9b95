"""PostgreSQL connector under concurrency: the connection cap as the server sees it,
overlap, isolation of a failing unit, and cancellation."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import TaskStatus

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.report import Report
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .faultkit import pg_execute, pg_side, pg_wait_gone
from .wrappers import Delegating

pytestmark = pytest.mark.postgres

WIDE_SCHEMAS = 30
SECOND_SCHEMAS = 10


def catalog_script(schemas: int, tables: int) -> str:
    statements = []
    for s in range(schemas):
        statements.append(f"CREATE SCHEMA s{s:02d}")
        for t in range(tables):
            statements.append(
                f"CREATE TABLE s{s:02d}.t{t} (id integer PRIMARY KEY, name text, "
                f"parent integer REFERENCES s{s:02d}.t{t} (id))"
            )
    return ";\n".join(statements)


def create_catalog(server: PgServer, schemas: int, tables: int) -> str:
    name = server.create_database()

    try:
        anyio.run(pg_execute, server, name, catalog_script(schemas, tables))
    except BaseException:
        server.drop_database(name)
        raise
    return name


@pytest.fixture(scope="module")
def wide_db(postgres_server: PgServer) -> Iterator[str]:
    """30 schemas of 3 tables each."""
    name = create_catalog(postgres_server, WIDE_SCHEMAS, 3)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def second_db(postgres_server: PgServer) -> Iterator[str]:
    """10 schemas of 2 tables each."""
    name = create_catalog(postgres_server, SECOND_SCHEMAS, 2)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def make_config(
    server: PgServer, database: str | None, out: Path, threshold: float = 100.0, **source: Any
) -> WorkflowConfig:
    return parse_config(
        {
            "source": server.source(database, application_name=unique_name("mi_app_"), **source),
            "sink": {"type": "jsonl", "path": str(out)},
            "workflow": {"success_threshold": threshold},
        }
    )


def side_connection(server: PgServer) -> AbstractAsyncContextManager[Any]:
    """A connection outside the run (its own application_name) for watching the server."""
    return pg_side(server, server_settings={"application_name": unique_name("mi_side_")})


COUNT = "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"


class Sampler:
    """Polls the server's count of the run's connections every few milliseconds."""

    def __init__(self, server: PgServer, application_name: str) -> None:
        self.server = server
        self.application_name = application_name
        self.samples: list[int] = []
        self.done = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with side_connection(self.server) as conn:
            task_status.started()
            while not self.done.is_set():
                self.samples.append(await conn.fetchval(COUNT, self.application_name))
                await anyio.sleep(0.002)


async def sampled_run(server: PgServer, config: WorkflowConfig) -> tuple[Report, list[int]]:
    sampler = Sampler(server, config.source.application_name)  # type: ignore[union-attr]
    async with anyio.create_task_group() as tg:
        await tg.start(sampler.run)
        try:
            report = await Workflow(config).run()
        finally:
            sampler.done.set()
    return report, sampler.samples


class Wrapped(Delegating):
    """Delegates to a PostgresConnector; runs ``before`` ahead of one schema's extract."""

    def __init__(
        self,
        config: WorkflowConfig,
        schema: str,
        before: Callable[[Any], Awaitable[None]],
    ) -> None:
        super().__init__(PostgresConnector(config.source))  # type: ignore[arg-type]
        self.schema = schema
        self.before = before

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        if unit.schema.name == self.schema:
            await self.before(connection)
        return await self.inner.extract(unit, connection)


def written_schemas(path: Path) -> list[str]:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [line["name"] for line in lines if line["kind"] == "databaseSchema"]


@pytest.mark.anyio
async def test_server_sees_at_most_threads_connections(
    postgres_server: PgServer, wide_db: str, tmp_path: Path
) -> None:
    config = make_config(postgres_server, wide_db, tmp_path / "out.jsonl", threads=3)
    report, samples = await sampled_run(postgres_server, config)
    assert report.exit_code() == 0
    assert report.units_ok == WIDE_SCHEMAS + 1  # and public
    assert max(samples) <= 3
    assert max(samples) >= 2, samples  # the sampler saw the run
    assert 2 <= report.peak_connections <= 3


@pytest.mark.anyio
async def test_cap_holds_across_two_databases(
    postgres_server: PgServer, wide_db: str, second_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, None, out, threads=3, databases=[wide_db, second_db])
    report, samples = await sampled_run(postgres_server, config)
    assert report.exit_code() == 0
    assert report.databases == 2
    assert report.units_ok == WIDE_SCHEMAS + SECOND_SCHEMAS + 2
    assert 2 <= max(samples) <= 3, samples
    assert report.peak_connections <= 3
    assert len(written_schemas(out)) == WIDE_SCHEMAS + SECOND_SCHEMAS + 2


@pytest.mark.anyio
async def test_units_overlap(postgres_server: PgServer, wide_db: str, tmp_path: Path) -> None:
    config = make_config(postgres_server, wide_db, tmp_path / "out.jsonl", threads=4)
    report = await Workflow(config).run()
    assert report.exit_code() == 0
    units = report.units
    overlapping = [
        (a.fqn, b.fqn)
        for i, a in enumerate(units)
        for b in units[i + 1 :]
        if a.start < b.end and b.start < a.end
    ]
    assert overlapping


@pytest.mark.anyio
@pytest.mark.parametrize(("threshold", "exit_code"), [(100.0, 1), (50.0, 0)])
async def test_failing_unit_is_isolated(
    postgres_server: PgServer, wide_db: str, tmp_path: Path, threshold: float, exit_code: int
) -> None:
    async def fail(connection: Any) -> None:
        raise RuntimeError("boom in s07")

    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, wide_db, out, threshold, threads=3)
    report = await Workflow(config, connector=Wrapped(config, "s07", fail)).run()
    assert (report.units_ok, report.units_failed) == (WIDE_SCHEMAS, 1)
    assert [(i.fqn, i.message) for i in report.issues] == [
        (f"pg.{wide_db}.s07", "RuntimeError: boom in s07")
    ]
    assert report.exit_code() == exit_code
    if exit_code != 0:  # below the threshold: nothing is published
        assert not out.exists() and not report.published
        return
    schemas = written_schemas(out)
    assert "s07" not in schemas
    assert len(schemas) == WIDE_SCHEMAS  # the 29 others and public


@pytest.mark.anyio
async def test_terminated_backend_fails_only_its_unit(
    postgres_server: PgServer, wide_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, wide_db, out, 90.0, threads=3)
    application_name = config.source.application_name  # type: ignore[union-attr]
    async with side_connection(postgres_server) as side:
        terminated: list[int] = []

        async def terminate(connection: Any) -> None:
            pid = connection.get_server_pid()
            # the timeout makes pg_terminate_backend wait until the backend is gone
            assert await side.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
            terminated.append(pid)

        report = await Workflow(config, connector=Wrapped(config, "s11", terminate)).run()
        remaining = await side.fetchval(COUNT, application_name)
    # every attempt at s11 is killed (a runner that retries gets a fresh connection each time)
    assert len(terminated) >= 1
    assert len(set(terminated)) == len(terminated)
    assert (report.units_ok, report.units_failed) == (WIDE_SCHEMAS, 1)
    assert [i.fqn for i in report.issues] == [f"pg.{wide_db}.s11"]
    assert report.exit_code() == 0  # 30 of 31 units meet the 90 % threshold: published
    assert "s11" not in written_schemas(out)
    assert len(written_schemas(out)) == WIDE_SCHEMAS
    assert report.peak_connections <= 3
    assert remaining == 0


@pytest.mark.anyio
async def test_cancellation_returns_every_connection(
    postgres_server: PgServer, wide_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, wide_db, out, threads=4)
    application_name = config.source.application_name  # type: ignore[union-attr]
    in_flight = anyio.Event()

    async def hang(connection: Any) -> None:
        in_flight.set()
        await anyio.sleep_forever()

    workflow = Workflow(config, connector=Wrapped(config, "s05", hang))
    async with side_connection(postgres_server) as side:
        with anyio.move_on_after(60) as scope:  # a safety net; cancelled explicitly below
            async with anyio.create_task_group() as tg:
                tg.start_soon(workflow.run)
                await in_flight.wait()
                assert await side.fetchval(COUNT, application_name) >= 1
                scope.cancel()
        assert scope.cancel_called
        remaining = await pg_wait_gone(side, application_name)
    assert remaining == 0
    assert workflow.report.cancelled
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []
