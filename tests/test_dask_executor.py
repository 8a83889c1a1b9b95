"""The Dask executor on a real two-process LocalCluster against the real servers: the same
bytes as in-process, the connection cap across workers, a killed worker, cancellation."""

from __future__ import annotations

import os
import re
import signal
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.errors import ConfigError
from metaingest.fleet import Fleet
from metaingest.sinks import JsonlSink
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, unique_name
from .faultproxy import FaultProxy
from .fleetkit import (
    Sampler,
    mysql_catalog,
    mysql_sessions,
    mysql_wait_gone,
    pg_catalog,
    pg_counter,
)

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
            dashboard_address=":0",  # a free port: 8787 may be taken
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
    server: PgServer,
    database: str,
    out: Path,
    app: str,
    *,
    dask_address: str | None,
    lease_timeout: float = 60,  # the default: a starved worker (2 busy CPUs) keeps its lease
    **extra: Any,
) -> WorkflowConfig:
    data: dict[str, Any] = {
        "source": server.source(database, application_name=app, threads=2, **extra),
        "sink": {"type": "jsonl", "path": str(out)},
    }
    if dask_address is not None:
        executor = {"type": "dask", "address": dask_address, "lease_timeout": lease_timeout}
        data["executor"] = executor
    return parse_config(data, env={})


def slow_units(proxy: FaultProxy, ms: float, also: Callable[[Any], None] = lambda p: None) -> Any:
    """A progress observer that delays the proxy's traffic once units start (discovery went
    at full speed), then calls ``also``."""

    def observe(progress: Any) -> None:
        if progress.phase == "extracting":
            proxy.delay(ms)
        also(progress)

    return observe


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
        slow = PgServer(port=proxy.port)
        # units of ~0.2 s, so the kill lands on running ones; the dead worker's leases come
        # back after 2 s
        address = cluster.scheduler_address
        workflow = Workflow(
            config(slow, pg_db, out, app, dask_address=address, lease_timeout=2),
            observer=slow_units(proxy, 20, kill_once),
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
        slow = PgServer(port=proxy.port)
        config_ = config(slow, pg_db, out, app, dask_address=cluster.scheduler_address)
        submitted = anyio.Event()

        def in_flight(progress: Any) -> None:
            if progress.in_flight:  # discovery is over (its connection closed), units submitted
                submitted.set()

        # a unit would take 10 s or more: only cancellation ends it early
        on_progress = slow_units(proxy, 1000, in_flight)

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
    executor = {"type": "dask", "address": cluster.scheduler_address}
    sink = {"type": "jsonl", "path": str(tmp_path / "dask.jsonl")}
    on_dask = parse_config({"sources": fleet, "sink": sink, "executor": executor}, env={})
    # the local run's sessions end on the server after its client returned: count only ours
    assert mysql_wait_gone(mysql_server, user) == 0
    pg_sampler = Sampler(pg_counter(postgres_server, [app]))
    maria_sampler = Sampler(mysql_sessions(mysql_server, [user]))
    watch = Watch(cluster.scheduler)
    with pg_sampler.running(), maria_sampler.running(), watch.watching():
        report = await Fleet(on_dask).run()
    assert report.ok, report.issues
    assert [(s.service, s.units_ok) for s in report.sources] == [("pg", SCHEMAS + 1), ("maria", 6)]
    assert (tmp_path / "dask.jsonl").read_bytes() == (tmp_path / "local.jsonl").read_bytes()
    assert 1 <= pg_sampler.peaks[app] <= 2, pg_sampler.peaks
    assert maria_sampler.peaks[user] == 1, maria_sampler.peaks
    # keys and semaphore names carry the run's id and positions only: no password, user,
    # host, database or service name; no log line of the scheduler or a worker has the password
    ours = sorted(key for key in watch.keys if key.startswith("metaingest-"))
    assert len(ours) == SCHEMAS + 1 + 6, ours
    assert all(re.fullmatch(r"metaingest-[0-9a-f]{12}-s[01]-u[0-9]+", key) for key in ours)
    assert watch.names and all(
        re.fullmatch(r"metaingest-[0-9a-f]{12}-s[01]-connections", name) for name in watch.names
    ), watch.names
    async with distributed.Client(cluster.scheduler_address, asynchronous=True) as client:
        logs = await client.get_scheduler_logs()
        worker_logs = await client.get_worker_logs()
    lines = [line for _, line in logs]
    lines += [line for entries in worker_logs.values() for _, line in entries]
    assert lines and not any(MARIA_PASSWORD in line for line in lines)


async def test_a_unit_longer_than_the_lease_timeout_keeps_its_lease(
    postgres_server: PgServer, pg_db: str, cluster: Any, tmp_path: Path
) -> None:
    """Units of several seconds with a 1.5 s lease: the worker refreshes the lease while the
    unit runs, so the units waiting for one never get it early (no more than threads)."""
    app = unique_name("mi_lease_")
    sampler = Sampler(pg_counter(postgres_server, [app]))
    async with FaultProxy(postgres_server.port) as proxy:
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
        # ~10 round trips a unit (0.3 s each): 3 s, beyond the 1.5 s lease
        observer = slow_units(proxy, 150)
        with sampler.running():
            report = await Workflow(parse_config(data, env={}), observer=observer).run()
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


class Watch(distributed.diagnostics.plugin.SchedulerPlugin):  # type: ignore[misc]
    """A scheduler plugin: the most tasks of metaingest the scheduler held at once (a task is
    held from its submission until the client drops its future, i.e. has its outcome), and
    every task key and semaphore name the scheduler saw."""

    name = "metaingest-watch"

    def __init__(self, scheduler: Any) -> None:
        self.scheduler = scheduler
        self.peak = 0
        self.keys: set[str] = set()
        self.names: set[str] = set()

    def transition(self, key: Any, start: str, finish: str, *args: Any, **kwargs: Any) -> None:
        held = sum(1 for k in self.scheduler.tasks if str(k).startswith("metaingest-"))
        self.peak = max(self.peak, held)
        self.keys.add(str(key))
        self.names.update(self.scheduler.extensions["semaphores"].max_leases)

    @contextmanager
    def watching(self) -> Iterator[Watch]:
        self.scheduler.add_plugin(self)
        try:
            yield self
        finally:
            self.scheduler.remove_plugin(name=self.name)


class GateSink(JsonlSink):
    """Opens the first unit's gate once ``after`` other batches have arrived."""

    def __init__(self, path: Path, gate: Path, after: int) -> None:
        super().__init__(path)
        self.gate, self.after, self.before_gate = gate, after, 0

    async def write(self, batch: Any) -> None:
        await super().write(batch)
        if not self.gate.exists():
            self.before_gate += 1
            if self.before_gate == self.after:
                self.gate.touch()


async def test_batches_stream_back_as_they_complete_with_backpressure(
    postgres_server: PgServer,
    pg_db: str,
    cluster: Any,
    local_bytes: bytes,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first unit submitted cannot finish before the sink has taken 8 later batches (it
    waits for a file the sink writes then): had batches come back in submission order, the
    run would never end. Meanwhile the scheduler never holds more than threads + window of
    the run's tasks (17 units: without backpressure all of them would be submitted)."""
    import metaingest.executors.dask as dask_executor

    from .dasktasks import first_unit_waits, gate

    monkeypatch.setattr(dask_executor, "run_task", first_unit_waits)
    door = gate(pg_db)
    door.unlink(missing_ok=True)
    out = tmp_path / "out.jsonl"
    sink = GateSink(out, door, after=8)
    app = unique_name("mi_stream_")
    plugin = Watch(cluster.scheduler)
    try:
        config_ = config(postgres_server, pg_db, out, app, dask_address=cluster.scheduler_address)
        with plugin.watching(), anyio.fail_after(60):
            report = await Workflow(config_, sink=sink).run()
    finally:
        door.unlink(missing_ok=True)
    assert report.ok, report.issues
    assert sink.before_gate == 8  # 8 batches reached the sink while the first unit waited
    assert out.read_bytes() == local_bytes
    # threads 2 + window 2: the window is used, never exceeded
    assert 3 <= plugin.peak <= 2 + 2, plugin.peak


@pytest.fixture(scope="module")
def tls_cluster() -> Iterator[tuple[Any, Any]]:
    """A cluster that speaks TLS only (certificates made for it), in this process."""
    security = distributed.Security.temporary()
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tls://",
        security=security,
        dashboard_address=":0",  # a free port: 8787 may be taken
        host="127.0.0.1",
    ) as local:
        yield local, security


async def test_the_executor_connects_with_the_cluster_s_tls_settings(
    postgres_server: PgServer,
    pg_db: str,
    tls_cluster: tuple[Any, Any],
    local_bytes: bytes,
    tmp_path: Path,
) -> None:
    """``executor.tls`` (CA, certificate, key files) against a scheduler that requires TLS:
    the run gives the local bytes; a client whose CA did not sign the cluster is refused."""
    cluster, security = tls_cluster
    assert cluster.scheduler_address.startswith("tls://")
    files = {}
    for name, pem in (
        ("ca_file", security.tls_ca_file),
        ("cert", security.tls_client_cert),
        ("key", security.tls_client_key),
    ):
        files[name] = tmp_path / f"{name}.pem"
        files[name].write_text(pem, encoding="ascii")
    out = tmp_path / "out.jsonl"
    app = unique_name("mi_tls_")
    base = config(postgres_server, pg_db, out, app, dask_address=cluster.scheduler_address)
    data = base.model_dump(mode="json")
    data["source"]["password"] = None
    data["executor"]["tls"] = {k: str(v) for k, v in files.items()}
    report = await Workflow(parse_config(data, env={})).run()
    assert report.ok, report.issues
    assert out.read_bytes() == local_bytes

    other = distributed.Security.temporary()  # another CA: the scheduler's certificate fails
    (tmp_path / "other-ca.pem").write_text(other.tls_ca_file, encoding="ascii")
    data["executor"]["tls"]["ca_file"] = str(tmp_path / "other-ca.pem")
    data["sink"]["path"] = str(tmp_path / "refused.jsonl")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "3s"}),
        pytest.raises(ConfigError, match=r"executor\.address: cannot reach"),
    ):
        await Workflow(parse_config(data, env={})).run()
    assert not (tmp_path / "refused.jsonl").exists()
