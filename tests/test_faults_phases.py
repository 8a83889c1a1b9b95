"""A unit's connection killed at each phase of the unit (issue 17), on PostgreSQL and MariaDB.

The connection a unit extracts with is wrapped so that the server kills its session (from a
side connection: ``pg_terminate_backend``, ``KILL CONNECTION``) at a chosen point: before
BEGIN, before each catalog query, before COMMIT. Whatever the driver raises on the way out,
the unit is retried on a fresh connection and the output is byte for byte a clean run's;
when the retries run out, the report names the error that killed the connection.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig
from metaingest.connectors import create_connector
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.report import Report
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, quote_mysql, unique_name
from .faultkit import config_of, maria_config, pg_execute, pg_side, pg_wait_gone
from .faultproxy import FaultProxy
from .wrappers import Delegating

pytestmark = [pytest.mark.anyio]

Kill = Callable[[str], Awaitable[None]]
# (schema, attempt) -> the phase at which that attempt's session is killed
Plan = dict[tuple[str, int], str]

PG_PHASES = ["begin", "query1", "query2", "query3", "commit"]
MY_PHASES = ["query1", "query2", "query3", "query4", "query5", "query6"]


class _Transaction:
    """Wraps asyncpg's transaction: a kill may come before BEGIN or before COMMIT."""

    def __init__(self, inner: Any, kill: Kill) -> None:
        self._inner = inner
        self._kill = kill

    async def __aenter__(self) -> Any:
        await self._kill("begin")
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> Any:
        if exc_info[0] is None:
            await self._kill("commit")
        return await self._inner.__aexit__(*exc_info)


class PgKilling:
    """An asyncpg connection whose session is killed at a phase (see ``_Transaction``)."""

    def __init__(self, inner: Any, kill: Kill) -> None:
        self._inner = inner
        self._kill = kill
        self._queries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def transaction(self, **options: Any) -> _Transaction:
        return _Transaction(self._inner.transaction(**options), self._kill)

    async def fetch(self, *args: Any) -> Any:
        self._queries += 1
        await self._kill(f"query{self._queries}")
        return await self._inner.fetch(*args)


class _Cursor:
    def __init__(self, owner: MyKilling) -> None:
        self._owner = owner
        self._inner: Any = None

    async def __aenter__(self) -> Any:
        owner = self._owner
        owner.queries += 1
        await owner.kill(f"query{owner.queries}")
        self._inner = owner.inner.cursor()
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc_info: Any) -> Any:
        return await self._inner.__aexit__(*exc_info)


class MyKilling:
    """An aiomysql connection whose session is killed before its n-th catalog query."""

    def __init__(self, inner: Any, kill: Kill) -> None:
        self.inner = inner
        self.kill = kill
        self.queries = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def cursor(self) -> _Cursor:
        return _Cursor(self)


class Killer(Delegating):
    """Hands each unit's connection to ``extract`` wrapped so it dies as ``plan`` says."""

    def __init__(
        self,
        config: WorkflowConfig,
        plan: Plan,
        kill_session: Callable[[Any], Awaitable[None]],
        wrap: Callable[[Any, Kill], Any],
    ) -> None:
        super().__init__(create_connector(config.source))
        self.plan = plan
        self.kill_session = kill_session
        self.wrap = wrap
        self.attempts: dict[str, int] = {}
        self.killed: list[tuple[str, int, str]] = []

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        name = unit.schema.name
        attempt = self.attempts[name] = self.attempts.get(name, 0) + 1
        wanted = self.plan.get((name, attempt))

        async def kill(phase: str) -> None:
            if phase == wanted:
                await self.kill_session(connection)
                self.killed.append((name, attempt, phase))

        return await self.inner.extract(unit, self.wrap(connection, kill))


async def run_killer(config: WorkflowConfig, killer: Killer | None = None) -> Report:
    with anyio.fail_after(60):
        return await Workflow(config, connector=killer).run()


# --- PostgreSQL ---------------------------------------------------------------------------

PG_SCHEMAS = 6


@pytest.fixture(scope="module")
def pg_catalog(postgres_server: PgServer) -> Iterator[str]:
    """Six schemas of three tables (keys, a foreign key, defaults) and a view each."""
    statements = []
    for s in range(PG_SCHEMAS):
        statements.append(f"CREATE SCHEMA s{s}")
        for t in range(3):
            statements.append(
                f"CREATE TABLE s{s}.t{t} (id integer PRIMARY KEY, name text NOT NULL UNIQUE, "
                f"parent integer REFERENCES s{s}.t{t} (id), note varchar(40) DEFAULT 'x')"
            )
        statements.append(f"CREATE VIEW s{s}.v AS SELECT id, name FROM s{s}.t0")
    name = postgres_server.create_database()
    try:
        anyio.run(pg_execute, postgres_server, name, ";\n".join(statements))
        yield name
    finally:
        postgres_server.drop_database(name)


def pg_config(server: PgServer, database: str, out: Path, **options: Any) -> WorkflowConfig:
    workflow = {k: options.pop(k) for k in ("retries", "success_threshold") if k in options}
    source = server.source(database, application_name=unique_name("mi_app_"), **options)
    return config_of(source, out, retry_backoff=0.02, **workflow)


@pytest.fixture(scope="module")
def pg_clean(postgres_server: PgServer, pg_catalog: str, tmp_path_factory: Any) -> bytes:
    out = tmp_path_factory.mktemp("clean") / "clean.jsonl"
    report = anyio.run(run_killer, pg_config(postgres_server, pg_catalog, out))
    assert report.ok and report.errors == 0
    return out.read_bytes()


def pg_killer(server: PgServer, config: WorkflowConfig, side: Any, plan: Plan) -> Killer:
    lock = anyio.Lock()  # one side connection for every unit: one query at a time

    async def terminate(connection: Any) -> None:
        # waits (up to 5 s) until the backend is gone, so the next step meets a dead session
        pid = connection.get_server_pid()
        async with lock:
            assert await side.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)

    return Killer(config, plan, terminate, PgKilling)


@pytest.mark.postgres
@pytest.mark.parametrize("phase", PG_PHASES)
async def test_pg_killed_at_each_phase_is_retried_and_output_is_identical(
    postgres_server: PgServer, pg_catalog: str, pg_clean: bytes, tmp_path: Path, phase: str
) -> None:
    out = tmp_path / "out.jsonl"
    config = pg_config(postgres_server, pg_catalog, out, threads=2)
    async with pg_side(postgres_server) as side:
        killer = pg_killer(postgres_server, config, side, {("s1", 1): phase, ("s4", 1): phase})
        report = await run_killer(config, killer)
        assert await pg_wait_gone(side, config.source.application_name) == 0  # type: ignore[union-attr]
    assert sorted(killer.killed) == [("s1", 1, phase), ("s4", 1, phase)]
    assert report.ok and report.errors == 0, report.issues
    assert {u.fqn: u.attempts for u in report.units}["pg." + pg_catalog + ".s1"] == 2
    assert out.read_bytes() == pg_clean


@pytest.mark.postgres
async def test_pg_one_unit_killed_at_every_attempt_until_its_retries_succeed(
    postgres_server: PgServer, pg_catalog: str, pg_clean: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = pg_config(postgres_server, pg_catalog, out, threads=3, retries=5)
    plan = {("s2", attempt): phase for attempt, phase in enumerate(PG_PHASES, 1)}
    async with pg_side(postgres_server) as side:
        killer = pg_killer(postgres_server, config, side, plan)
        report = await run_killer(config, killer)
    assert [k[2] for k in killer.killed] == PG_PHASES  # five kills within one unit's retries
    assert report.ok and report.errors == 0, report.issues
    assert {u.fqn: u.attempts for u in report.units}["pg." + pg_catalog + ".s2"] == 6
    assert out.read_bytes() == pg_clean


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("phase", "first"),
    [
        ("query2", "InterfaceError: connection is closed"),
        (
            "commit",
            "InterfaceError: cannot call Transaction.__aexit__(): "
            "the underlying connection is closed",
        ),
    ],
)
async def test_pg_retries_exhausted_on_an_idle_kill_report_the_first_error(
    postgres_server: PgServer, pg_catalog: str, tmp_path: Path, phase: str, first: str
) -> None:
    out = tmp_path / "out.jsonl"
    config = pg_config(postgres_server, pg_catalog, out, threads=2, retries=2, success_threshold=0)
    plan = {("s3", attempt): phase for attempt in (1, 2, 3)}
    async with pg_side(postgres_server) as side:
        report = await run_killer(config, pg_killer(postgres_server, config, side, plan))
    assert report.units_ok == report.units_total - 1 and report.units_failed == 1
    [issue] = [i for i in report.issues if i.level == "error"]
    assert issue.fqn == f"pg.{pg_catalog}.s3"
    # killed while idle in its transaction: the first thing the client learns is that the
    # connection is closed (asyncpg drops the server's goodbye), at the next query or at
    # COMMIT; not an error raised later while leaving the transaction
    assert issue.message == f"{first} (gave up after 3 attempts)"


@pytest.mark.postgres
async def test_pg_retries_exhausted_mid_query_name_the_server_error(
    postgres_server: PgServer, pg_catalog: str, tmp_path: Path
) -> None:
    """Killed while its query waits on a lock: the server's error, not the rollback's."""
    out = tmp_path / "out.jsonl"
    config = pg_config(postgres_server, pg_catalog, out, threads=2, retries=2, success_threshold=0)
    async with (
        pg_side(postgres_server, pg_catalog) as locker,
        pg_side(postgres_server) as side,
        anyio.create_task_group() as tg,
    ):
        lock = locker.transaction()
        await lock.start()
        # pg_get_viewdef takes an AccessShareLock on the view: the relations query waits
        await locker.execute("LOCK TABLE s3.v IN ACCESS EXCLUSIVE MODE")

        one_at_a_time = anyio.Lock()  # the side connection runs one query at a time

        async def terminate_when_waiting(pid: int) -> None:
            waiting = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1"
            async with one_at_a_time:
                while not await side.fetchval(waiting, pid):  # noqa: ASYNC110 - polls
                    await anyio.sleep(0.01)
                assert await side.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)

        async def in_flight(connection: Any) -> None:
            tg.start_soon(terminate_when_waiting, connection.get_server_pid())

        plan = {("s3", attempt): "query1" for attempt in (1, 2, 3)}
        killer = Killer(config, plan, in_flight, PgKilling)
        report = await run_killer(config, killer)
        await lock.rollback()
    assert len(killer.killed) == 3
    assert report.units_ok == report.units_total - 1 and report.units_failed == 1
    [issue] = [i for i in report.issues if i.level == "error"]
    assert issue.fqn == f"pg.{pg_catalog}.s3"
    assert issue.message == (
        "AdminShutdownError: terminating connection due to administrator command "
        "(gave up after 3 attempts)"
    )


@pytest.mark.postgres
async def test_pg_every_backend_terminated_repeatedly_through_a_slow_link(
    postgres_server: PgServer, pg_catalog: str, pg_clean: bytes, tmp_path: Path
) -> None:
    """The issue's pattern: a slow link, every backend of the run terminated three times."""
    for round_ in range(3):
        out = tmp_path / f"out{round_}.jsonl"
        async with FaultProxy(postgres_server.port) as proxy, pg_side(postgres_server) as side:
            proxy.delay(5)
            config = pg_config(
                postgres_server, pg_catalog, out, port=proxy.port, threads=4, retries=6
            )
            app = config.source.application_name  # type: ignore[union-attr]
            terminated = 0

            async def terminate_all(app: str, done: anyio.Event) -> None:
                """Three rounds, 0.1 s apart, each once the run has backends again."""
                nonlocal terminated
                count = (
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) "
                    "FROM pg_stat_activity WHERE application_name = $1"
                )
                rounds = 0
                while rounds < 3 and not done.is_set():
                    killed = await side.fetchval(count, app)
                    if killed:
                        terminated += killed
                        rounds += 1
                        await anyio.sleep(0.1)
                    else:
                        await anyio.sleep(0.005)

            done = anyio.Event()
            async with anyio.create_task_group() as tg:
                tg.start_soon(terminate_all, app, done)
                try:
                    report = await run_killer(config)
                finally:
                    done.set()
        assert terminated >= 1
        assert report.ok and report.errors == 0, report.issues
        assert out.read_bytes() == pg_clean


# --- MariaDB ------------------------------------------------------------------------------

MY_SCHEMAS = 4


@pytest.fixture(scope="module")
def my_schemas(mysql_server: MysqlServer) -> Iterator[list[str]]:
    names = mysql_server.create_schemas(MY_SCHEMAS)
    try:
        statements = []
        for name in names:
            db = quote_mysql(name)
            for t in range(3):
                statements.append(
                    f"CREATE TABLE {db}.t{t} (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL "
                    f"UNIQUE, parent INT, doc JSON, FOREIGN KEY (parent) REFERENCES {db}.t{t} (id))"
                )
            statements.append(f"CREATE VIEW {db}.v AS SELECT id, name FROM {db}.t0")
        mysql_server.run(*statements)
        yield names
    finally:
        mysql_server.drop_schemas(names)


def my_config(server: MysqlServer, schemas: list[str], out: Path, **options: Any) -> WorkflowConfig:
    return maria_config(server, schemas, out, **{"retry_backoff": 0.02, **options})


@pytest.fixture(scope="module")
def my_clean(mysql_server: MysqlServer, my_schemas: list[str], tmp_path_factory: Any) -> bytes:
    out = tmp_path_factory.mktemp("clean") / "clean.jsonl"
    report = anyio.run(run_killer, my_config(mysql_server, my_schemas, out))
    assert report.ok and report.errors == 0
    return out.read_bytes()


def my_killer(server: MysqlServer, config: WorkflowConfig, plan: Plan) -> Killer:
    async def kill(connection: Any) -> None:
        thread = connection.thread_id()
        await anyio.to_thread.run_sync(server.run, f"KILL CONNECTION {int(thread)}")

    return Killer(config, plan, kill, MyKilling)


@pytest.mark.mysql
@pytest.mark.parametrize("phase", MY_PHASES)
async def test_mariadb_killed_before_each_query_is_retried_and_output_is_identical(
    mysql_server: MysqlServer, my_schemas: list[str], my_clean: bytes, tmp_path: Path, phase: str
) -> None:
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, my_schemas, out, threads=2)
    killer = my_killer(mysql_server, config, {(my_schemas[1], 1): phase})
    report = await run_killer(config, killer)
    assert killer.killed == [(my_schemas[1], 1, phase)]
    assert report.ok and report.errors == 0, report.issues
    assert out.read_bytes() == my_clean


@pytest.mark.mysql
async def test_mariadb_one_unit_killed_at_every_attempt_until_its_retries_succeed(
    mysql_server: MysqlServer, my_schemas: list[str], my_clean: bytes, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, my_schemas, out, threads=2, retries=6)
    plan = {(my_schemas[2], attempt): phase for attempt, phase in enumerate(MY_PHASES, 1)}
    killer = my_killer(mysql_server, config, plan)
    report = await run_killer(config, killer)
    assert [k[2] for k in killer.killed] == MY_PHASES
    assert report.ok and report.errors == 0, report.issues
    assert out.read_bytes() == my_clean


@pytest.mark.mysql
async def test_mariadb_retries_exhausted_name_the_original_cause_and_spare_the_others(
    mysql_server: MysqlServer, my_schemas: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, my_schemas, out, retries=1, success_threshold=0)
    plan = {(my_schemas[0], 1): "query3", (my_schemas[0], 2): "query3"}
    report = await run_killer(config, my_killer(mysql_server, config, plan))
    assert report.units_ok == report.units_total - 1 and report.units_failed == 1
    [issue] = [i for i in report.issues if i.level == "error"]
    assert issue.fqn == f"maria.default.{my_schemas[0]}"
    # the driver's error, not the socket-level IncompleteReadError it wraps
    assert issue.message.startswith("OperationalError: (2013, 'Lost connection")
    assert issue.message.endswith("(gave up after 2 attempts)")


@pytest.mark.postgres
async def test_pg_any_error_on_a_dead_connection_is_retried(
    postgres_server: PgServer, pg_catalog: str, pg_clean: bytes, tmp_path: Path
) -> None:
    """The connection's state decides, not the type of what was raised on the way out.

    After the session is really terminated, the wrapper raises the secondary error the issue
    saw (asyncpg's ``InternalClientError``, unclassified by itself): the pool finds the
    connection closed, so the unit is retried.
    """
    import asyncpg

    out = tmp_path / "out.jsonl"
    config = pg_config(postgres_server, pg_catalog, out, threads=2)
    async with pg_side(postgres_server) as side:

        async def terminate_then_confuse(connection: Any) -> None:
            assert await side.fetchval(
                "SELECT pg_terminate_backend($1, 5000)", connection.get_server_pid()
            )
            raise asyncpg.exceptions.InternalClientError(
                "cannot switch to state 15; another operation (2) is in progress"
            )

        killer = Killer(config, {("s5", 1): "begin"}, terminate_then_confuse, PgKilling)
        report = await run_killer(config, killer)
    assert report.ok and report.errors == 0, report.issues
    assert {u.fqn: u.attempts for u in report.units}[f"pg.{pg_catalog}.s5"] == 2
    assert out.read_bytes() == pg_clean
