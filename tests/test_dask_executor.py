"""The Dask executor on a real two-process LocalCluster against the real servers: the same
bytes as in-process, the connection cap across workers, a killed worker, cancellation."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.fleet import Fleet
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, unique_name
from .faultproxy import FaultProxy
from .fleetkit import Sampler, mysql_catalog, mysql_counter, pg_catalog, pg_counter

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

pytestmark = [pytest.mark.anyio, pytest.mark.postgres]

SCHEMAS = 16
TABLES = 4
MARIA_PASSWORD = "dask-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One LocalCluster of two worker processes for the whole module (start-up is ~2 s)."""
    settings = {
        # leases of a killed worker come back within seconds, not the defaults' 30 + 10 s
        "distributed.scheduler.locks.lease-validation-interval": "0.5s",
        "distributed.admin.tick.limit": "60s",
    }
    with (
        dask.config.set(settings),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=2,
            processes=True,
            dashboard_address=None,
            host="127.0.0.1",
        ) as local,
    ):
        yield local


@pytest.fixture(scope="module")
def pg_db(postgres_server: PgServer) -> Iterator[str]:
    name = pg_catalog(postgres_server, SCHEMAS, TABLES)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def config(
    server: PgServer, database: str, out: Path, app: str, *, dask_address: str | None, **extra: Any
) -> WorkflowConfig:
    data: dict[str, Any] = {
        "source": server.source(database, application_name=app, threads=2, **extra),
        "sink": {"type": "jsonl", "path": str(out)},
    }
    if dask_address is not None:
        data["executor"] = {"type": "dask", "address": dask_address, "lease_timeout": 5}
    return parse_config(data, env={})


async def test_dask_writes_the_bytes_of_the_local_run_with_the_cap_held(
    postgres_server: PgServer, pg_db: str, cluster: Any, tmp_path: Path
) -> None:
    local_out, dask_out = tmp_path / "local.jsonl", tmp_path / "dask.jsonl"
    app = unique_name("mi_dask_")
    report = await Workflow(config(postgres_server, pg_db, local_out, app, dask_address=None)).run()
    assert report.ok, report.issues
    sampler = Sampler(pg_counter(postgres_server, [app]))
    with sampler.running():
        report = await Workflow(
            config(postgres_server, pg_db, dask_out, app, dask_address=cluster.scheduler_address)
        ).run()
    assert report.ok, report.issues
    assert report.schemas == SCHEMAS + 1 and report.units_ok == SCHEMAS + 1  # and public
    assert dask_out.read_bytes() == local_out.read_bytes()
    # the cap holds on the server across both worker processes (discovery's connections
    # close before the units are submitted)
    assert 1 <= sampler.peaks[app] <= 2, sampler.peaks


@pytest.fixture(scope="module")
def local_bytes(postgres_server: PgServer, pg_db: str, tmp_path_factory: Any) -> bytes:
    """The in-process run's output, the reference for every Dask run of ``pg_db``."""
    out = tmp_path_factory.mktemp("local") / "out.jsonl"
    app = unique_name("mi_local_")
    report = anyio.run(Workflow(config(postgres_server, pg_db, out, app, dask_address=None)).run)
    assert report.ok, report.issues
    return out.read_bytes()


async def test_a_worker_killed_mid_run_gives_the_same_bytes(
    postgres_server: PgServer, pg_db: str, cluster: Any, local_bytes: bytes, tmp_path: Path
) -> None:
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        pids = sorted(client.run(os.getpid).values())
    assert len(pids) == 2
    out = tmp_path / "out.jsonl"
    app = unique_name("mi_kill_")
    killed: list[int] = []

    def kill_once(progress: Any) -> None:
        # a unit is in flight and some are done: terminate one worker process outright
        if not killed and progress.units_done >= 3 and progress.in_flight:
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    async with FaultProxy(postgres_server.port) as proxy:
        proxy.delay(20)  # units of ~0.2 s, so the kill lands on running ones
        slow = PgServer(port=proxy.port)
        workflow = Workflow(
            config(slow, pg_db, out, app, dask_address=cluster.scheduler_address),
            observer=kill_once,
        )
        report = await workflow.run()
    assert killed, "the run ended before a worker could be killed"
    assert report.ok, report.issues
    assert out.read_bytes() == local_bytes


async def test_cancellation_cancels_every_task_and_leaves_no_connection(
    postgres_server: PgServer, pg_db: str, cluster: Any, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    app = unique_name("mi_cancel_")
    async with FaultProxy(postgres_server.port) as proxy:
        proxy.delay(1000)  # a unit would take 10 s or more: only cancellation ends it early
        slow = PgServer(port=proxy.port)
        config_ = config(slow, pg_db, out, app, dask_address=cluster.scheduler_address)
        submitted = anyio.Event()

        def on_progress(progress: Any) -> None:
            if progress.in_flight:  # discovery is over (its connection closed), units submitted
                submitted.set()

        async with anyio.create_task_group() as tg:

            async def cancel_once_connected() -> None:
                await submitted.wait()
                await wait_for_connections(postgres_server, app, lambda n: n > 0)
                tg.cancel_scope.cancel()

            tg.start_soon(cancel_once_connected)
            await Workflow(config_, observer=on_progress).run()
        # every task stops at once (its own watch, not the end of its unit): its connection
        # closes, its lease returns, and nothing is left running on the cluster
        with anyio.fail_after(8):
            await wait_for_connections(postgres_server, app, lambda n: n == 0)
    assert not out.exists()
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        for _ in range(50):
            if not any(client.processing().values()):
                break
            await anyio.sleep(0.1)
        assert not any(client.processing().values())


async def count_connections(server: PgServer, app: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(host=server.host, port=server.port, user=server.user)
    try:
        value = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", app
        )
        return int(value)
    finally:
        await conn.close()


async def wait_for_connections(server: PgServer, app: str, done: Callable[[int], bool]) -> None:
    """Poll the server until ``done(connections of app)``."""
    while True:
        if done(await count_connections(server, app)):
            return
        await anyio.sleep(0.05)


@pytest.fixture(scope="module")
def maria_user(mysql_server: MysqlServer) -> Iterator[tuple[str, list[str]]]:
    """A user only this module connects as (PROCESSLIST is filtered by it), and its schemas."""
    user = "mi_test_u" + uuid.uuid4().hex[:8]
    names = mysql_catalog(mysql_server, 6)
    mysql_server.run(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{MARIA_PASSWORD}'",
        f"GRANT SELECT, SHOW VIEW ON *.* TO '{user}'@'%'",
    )
    try:
        yield user, names
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")
        mysql_server.drop_schemas(names)


@pytest.mark.mysql
async def test_a_fleet_on_dask_writes_the_local_bytes_with_every_cap_held(
    postgres_server: PgServer,
    pg_db: str,
    mysql_server: MysqlServer,
    maria_user: tuple[str, list[str]],
    cluster: Any,
    tmp_path: Path,
) -> None:
    user, schemas = maria_user
    app = unique_name("mi_fleet_")
    prefix = schemas[0].rsplit("_", 1)[0]
    fleet = [
        postgres_server.source(pg_db, service_name="pg", threads=2, application_name=app),
        mysql_server.source(
            service_name="maria",
            threads=1,
            username=user,
            password=MARIA_PASSWORD,
            schema_filter={"includes": ["^" + re.escape(prefix)]},
        ),
    ]
    sink = {"type": "jsonl", "path": str(tmp_path / "local.jsonl")}
    local = parse_config({"sources": fleet, "sink": sink}, env={})
    report = await Fleet(local).run()
    assert report.ok, report.issues
    executor = {"type": "dask", "address": cluster.scheduler_address, "lease_timeout": 5}
    sink = {"type": "jsonl", "path": str(tmp_path / "dask.jsonl")}
    on_dask = parse_config({"sources": fleet, "sink": sink, "executor": executor}, env={})
    pg_sampler = Sampler(pg_counter(postgres_server, [app]))
    maria_sampler = Sampler(mysql_counter(mysql_server, [user]))
    with pg_sampler.running(), maria_sampler.running():
        report = await Fleet(on_dask).run()
    assert report.ok, report.issues
    assert [(s.service, s.units_ok) for s in report.sources] == [("pg", SCHEMAS + 1), ("maria", 6)]
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert 1 <= pg_sampler.peaks[app] <= 2, pg_sampler.peaks
    assert maria_sampler.peaks[user] == 1, maria_sampler.peaks
    # the password never reaches a task key, and the scheduler logged none of it
    async with distributed.Client(cluster.scheduler_address, asynchronous=True) as client:
        logs = await client.get_scheduler_logs()
    assert not any(MARIA_PASSWORD in line for _, line in logs)


async def test_a_unit_longer_than_the_lease_timeout_keeps_its_lease(
    postgres_server: PgServer, pg_db: str, cluster: Any, tmp_path: Path
) -> None:
    """Units of several seconds with a 1.5 s lease: the worker refreshes the lease while the
    unit runs, so the units waiting for one never get it early (no more than threads)."""
    app = unique_name("mi_lease_")
    sampler = Sampler(pg_counter(postgres_server, [app]))
    async with FaultProxy(postgres_server.port) as proxy:
        proxy.delay(150)  # ~10 round trips a unit (0.3 s each): 3 s, beyond the 1.5 s lease
        slow = PgServer(port=proxy.port)
        data: dict[str, Any] = {
            "source": slow.source(
                pg_db, application_name=app, threads=2, schema_filter={"includes": ["^s0[0-3]$"]}
            ),
            "sink": {"type": "jsonl", "path": str(tmp_path / "out.jsonl")},
            "executor": {
                "type": "dask",
                "address": cluster.scheduler_address,
                "lease_timeout": 1.5,
            },
        }
        with sampler.running():
            report = await Workflow(parse_config(data, env={})).run()
    assert report.ok, report.issues
    assert report.units_ok == 4
    assert max(u.end - u.start for u in report.units) > 1.5  # the units outlived the lease
    assert 1 <= sampler.peaks[app] <= 2, sampler.peaks


async def test_an_application_passes_its_own_client(
    postgres_server: PgServer, pg_db: str, cluster: Any, local_bytes: bytes, tmp_path: Path
) -> None:
    """``ingest(config, client=...)``: no executor section needed; the client is not closed."""
    import metaingest

    out = tmp_path / "out.jsonl"
    app = unique_name("mi_client_")
    config_ = config(postgres_server, pg_db, out, app, dask_address=None)
    async with distributed.Client(cluster.scheduler_address, asynchronous=True) as client:
        async with distributed.get_task_stream(client) as stream:
            report = await metaingest.ingest(config_, client=client)
        assert report.ok, report.issues
        assert out.read_bytes() == local_bytes
        assert client.status == "running"
    # one task per unit, each key naming the run and the unit's position only: no database,
    # schema, service or credential
    keys = sorted(str(task["key"]) for task in stream.data)
    assert len(keys) == SCHEMAS + 1
    assert all(re.fullmatch(r"metaingest-[0-9a-f]{12}-s0-u[0-9]+", key) for key in keys), keys
