"""Transient errors at discovery and per-database failures on the real PostgreSQL server
(issue 19): discovery retried like units; a database that fails belongs to its units."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from metaingest.config import WorkflowConfig
from metaingest.connectors import create_connector
from metaingest.connectors.base import Unit
from metaingest.errors import SourceError
from metaingest.workflow import Workflow

from .conftest import PgServer, free_port, unique_name
from .faultkit import Hooked, config_of, pg_execute, pg_side, run, run_with_namespace_locked

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

SCRIPT = """
CREATE SCHEMA s0;
CREATE TABLE s0.t (id integer PRIMARY KEY, note text DEFAULT 'x');
CREATE SCHEMA s1;
CREATE TABLE s1.t (id integer PRIMARY KEY);
CREATE VIEW s1.v AS SELECT id FROM s1.t;
"""


def _create(server: PgServer) -> str:
    name = server.create_database()
    anyio.run(pg_execute, server, name, SCRIPT)
    return name


@pytest.fixture
def two(postgres_server: PgServer) -> Iterator[list[str]]:
    """Two small databases, in name order."""
    names = sorted([_create(postgres_server), _create(postgres_server)])
    try:
        yield names
    finally:
        for name in names:
            postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def one(postgres_server: PgServer) -> Iterator[str]:
    name = _create(postgres_server)
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


def config(server: PgServer, out: Path, workflow: dict[str, Any], **source: Any) -> WorkflowConfig:
    source.setdefault("application_name", unique_name("mi_app_"))
    return config_of(server.source(**source), out, **{"retry_backoff": 0.05, **workflow})


@pytest.fixture
def limited_role(postgres_server: PgServer) -> Iterator[str]:
    """A login role that may hold one connection at a time."""
    role = unique_name("mi_role_")
    postgres_server.run("postgres", f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    try:
        yield role
    finally:
        postgres_server.run(
            "postgres",
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'",
            f'DROP ROLE IF EXISTS "{role}"',
        )


async def test_connection_limit_at_discovery_is_retried(
    postgres_server: PgServer, one: str, limited_role: str, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    assert (await run(config(postgres_server, clean, {}, database=one))).ok
    out = tmp_path / "out.jsonl"
    cfg = config(postgres_server, out, {"retries": 8}, database=one, username=limited_role)
    async with pg_side(postgres_server, one, user=limited_role) as held:
        assert held.get_server_pid()

        async def release() -> None:
            await anyio.sleep(0.5)
            await held.close()

        async with anyio.create_task_group() as tg:
            tg.start_soon(release)
            report = await run(cfg)
    assert report.ok and report.errors == 0, report.issues
    assert out.read_bytes() == clean.read_bytes()


async def test_connection_limit_that_stays_fails_after_the_retries(
    postgres_server: PgServer, one: str, limited_role: str, tmp_path: Path
) -> None:
    cfg = config(
        postgres_server, tmp_path / "o.jsonl", {"retries": 2}, database=one, username=limited_role
    )
    async with pg_side(postgres_server, one, user=limited_role):
        with pytest.raises(SourceError) as caught:
            await run(cfg)
    message = str(caught.value)
    assert "too many connections for role" in message
    assert message.endswith("(gave up after 3 attempts)")
    assert not (tmp_path / "o.jsonl").exists()


async def test_statement_timeout_at_discovery_is_retried(
    postgres_server: PgServer, one: str, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    assert (await run(config(postgres_server, clean, {}, database=one))).ok
    out = tmp_path / "out.jsonl"
    cfg = config(postgres_server, out, {"retries": 8}, database=one, statement_timeout=0.2)
    # the schema listing reads pg_namespace: it waits, and statement_timeout cancels it
    report = await run_with_namespace_locked(postgres_server, one, cfg)
    assert report.ok and report.errors == 0, report.issues
    assert out.read_bytes() == clean.read_bytes()


async def test_a_database_whose_listing_fails_is_its_own_failure(
    postgres_server: PgServer, two: list[str], tmp_path: Path
) -> None:
    a, b = two
    out = tmp_path / "out.jsonl"
    cfg = config(
        postgres_server,
        out,
        {"retries": 1, "success_threshold": 0},
        databases=[a, b],
        statement_timeout=0.2,
    )
    async with pg_side(postgres_server, b) as locker, locker.transaction():
        await locker.execute("LOCK TABLE pg_catalog.pg_namespace IN ACCESS EXCLUSIVE MODE")
        plan = await Workflow(cfg).dry_run()
        report = await run(cfg)
    [skipped] = [d for d in plan.databases if d.database.name == b]
    assert skipped.skipped_because is not None
    assert skipped.skipped_because.startswith("schema listing failed: SourceError: ")
    assert "canceling statement due to statement timeout" in skipped.skipped_because
    assert skipped.skipped_because.endswith("(gave up after 2 attempts)")
    assert {u.unit.database.name for u in plan.units} == {a}
    # a's three schemas (public, s0, s1) delivered; b counted as one failure
    assert report.units_ok == 3 and report.units_failed == 1 and report.units_total == 4
    assert report.success_pct == 75.0 and report.published
    [issue] = [i for i in report.issues if i.level == "error"]
    assert issue.fqn == f"pg.{b}" and issue.message.startswith("schema listing failed: ")
    lines = out.read_text().splitlines()
    assert any(f'"pg.{a}.s1.v"' in line for line in lines)
    assert not any(f"pg.{b}" in line for line in lines)


async def test_a_database_dropped_mid_run_fails_its_units_only(
    postgres_server: PgServer, two: list[str], tmp_path: Path
) -> None:
    a, b = two
    out = tmp_path / "out.jsonl"
    cfg = config(postgres_server, out, {"success_threshold": 0}, databases=[a, b], threads=2)
    dropped: list[str] = []
    async with pg_side(postgres_server) as side:

        async def drop_b(unit: Unit, connection: Any, attempt: int) -> None:
            if unit.database.name == b and not dropped:
                dropped.append(unit.fqn)
                await side.execute(f'DROP DATABASE "{b}" WITH (FORCE)')

        with anyio.fail_after(45):
            report = await Workflow(cfg, connector=Hooked(cfg, drop_b)).run()
    assert dropped
    ok = {u.fqn for u in report.units if u.status == "ok"}
    failed = {u.fqn for u in report.units if u.status == "error"}
    assert ok == {f"pg.{a}.public", f"pg.{a}.s0", f"pg.{a}.s1"}
    assert failed == {f"pg.{b}.public", f"pg.{b}.s0", f"pg.{b}.s1"}
    errors = {i.fqn: i.message for i in report.issues if i.level == "error"}
    assert set(errors) == failed
    assert all(f'database "{b}" does not exist' in m for m in errors.values()), errors
    assert report.published and f'"pg.{a}.s1.v"' in out.read_text()


async def test_nothing_listening_fails_after_the_retries_naming_host_and_port(
    postgres_server: PgServer, tmp_path: Path
) -> None:
    port = free_port()
    cfg = config(postgres_server, tmp_path / "o.jsonl", {"retries": 2}, database="x", port=port)
    with pytest.raises(SourceError) as caught:
        await run(cfg)
    assert str(caught.value) == (
        f"PostgreSQL at 127.0.0.1:{port}, database 'x': Connection refused "
        "(gave up after 3 attempts)"
    )
    cfg = config(postgres_server, tmp_path / "o.jsonl", {"retries": 0}, database="x", port=port)
    with pytest.raises(SourceError, match=r"Connection refused$"):
        await run(cfg)


class _Flaky:
    """A driver module whose ``connect`` first raises the given errors, then connects."""

    def __init__(self, inner: Any, errors: list[BaseException]) -> None:
        self._inner = inner
        self.errors = errors

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        if self.errors:
            raise self.errors.pop(0)
        return await self._inner.connect(*args, **kwargs)


def network_blips() -> list[BaseException]:
    return [
        OSError(errno.EHOSTUNREACH, "No route to host"),
        OSError(errno.ENETUNREACH, "Network is unreachable"),
        socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    ]


async def test_network_blips_at_connect_are_retried_on_postgres(
    postgres_server: PgServer, one: str, tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    assert (await run(config(postgres_server, clean, {}, database=one))).ok
    out = tmp_path / "out.jsonl"
    cfg = config(postgres_server, out, {"retries": 3}, database=one)
    connector: Any = create_connector(cfg.source)
    connector._asyncpg = flaky = _Flaky(asyncpg, network_blips())  # the driver's edge
    with anyio.fail_after(45):
        report = await Workflow(cfg, connector=connector).run()
    assert not flaky.errors
    assert report.ok and report.errors == 0
    assert out.read_bytes() == clean.read_bytes()


async def test_lock_timeout_fails_a_locked_schema_fast_and_reports_it(
    postgres_server: PgServer, one: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    cfg = config(
        postgres_server,
        out,
        {"retries": 1, "success_threshold": 0},
        database=one,
        lock_timeout=0.2,
    )
    async with pg_side(postgres_server, one) as locker, locker.transaction():
        # reading column defaults opens the table: the columns query waits on this lock
        await locker.execute("LOCK TABLE s0.t IN ACCESS EXCLUSIVE MODE")
        report = await run(cfg)
    assert {u.fqn: u.attempts for u in report.units if u.status == "error"} == {f"pg.{one}.s0": 2}
    [issue] = [i for i in report.issues if i.level == "error"]
    assert issue.message == (
        "LockNotAvailableError: canceling statement due to lock timeout (gave up after 2 attempts)"
    )
    assert report.units_ok == 2


async def test_lock_timeout_defaults_to_five_seconds(
    postgres_server: PgServer, one: str, tmp_path: Path
) -> None:
    seen: list[str] = []

    async def show(unit: Unit, connection: Any, attempt: int) -> None:
        seen.append(await connection.fetchval("SHOW lock_timeout"))

    assert (await run(config(postgres_server, tmp_path / "o.jsonl", {}, database=one), show)).ok
    assert set(seen) == {"5s"}
