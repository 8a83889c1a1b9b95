"""Fault injection against the real MariaDB server: a killed connection, a user at its
connection limit, a schema that keeps failing, broken views, cancellation."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.connectors.base import Unit
from metaingest.observe import Progress
from metaingest.workflow import Workflow

from .conftest import MysqlServer, quote_mysql, unique_name
from .faultkit import maria_config, run

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]

SCHEMAS = 5
PASSWORD = "pw-" + unique_name("")


@pytest.fixture(scope="module")
def schemas(mysql_server: MysqlServer) -> Iterator[list[str]]:
    """Five databases of three tables and a view each."""
    names = mysql_server.create_schemas(SCHEMAS)
    try:
        statements = []
        for name in names:
            db = quote_mysql(name)
            for t in range(3):
                statements.append(
                    f"CREATE TABLE {db}.t{t} (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL,"
                    f" parent INT, FOREIGN KEY (parent) REFERENCES {db}.t{t} (id))"
                )
            statements.append(f"CREATE VIEW {db}.v AS SELECT id, name FROM {db}.t0")
        mysql_server.run(*statements)
        yield names
    finally:
        mysql_server.drop_schemas(names)


@pytest.fixture(scope="module")
def reader(mysql_server: MysqlServer, schemas: list[str]) -> Iterator[str]:
    """A user with a password, at most two connections, and SELECT on the test schemas."""
    user = unique_name()
    mysql_server.run(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}' WITH MAX_USER_CONNECTIONS 2",
        *(f"GRANT SELECT, SHOW VIEW ON {quote_mysql(s)}.* TO '{user}'@'%'" for s in schemas),
    )
    try:
        yield user
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")


my_config = maria_config


async def clean_output(server: MysqlServer, schemas: list[str], tmp_path: Path) -> bytes:
    out = tmp_path / "clean.jsonl"
    report = await run(my_config(server, schemas, out))
    assert report.ok and report.errors == 0 and report.units_ok == SCHEMAS
    return out.read_bytes()


async def test_killed_connection_is_retried_and_output_is_identical(
    mysql_server: MysqlServer, schemas: list[str], tmp_path: Path
) -> None:
    expected = await clean_output(mysql_server, schemas, tmp_path)
    out = tmp_path / "out.jsonl"
    killed: list[int] = []

    async def kill(unit: Unit, connection: Any, attempt: int) -> None:
        if unit.schema.name == schemas[2] and attempt == 1:
            thread = connection.thread_id()
            await anyio.to_thread.run_sync(mysql_server.run, f"KILL CONNECTION {thread}")
            killed.append(thread)

    report = await run(my_config(mysql_server, schemas, out, threads=2), kill)
    assert len(killed) == 1
    assert report.ok and report.errors == 0
    assert {u.fqn: u.attempts for u in report.units}[f"maria.default.{schemas[2]}"] == 2
    assert out.read_bytes() == expected


async def test_user_connection_limit_is_retried_not_fatal(
    mysql_server: MysqlServer, schemas: list[str], reader: str, tmp_path: Path
) -> None:
    expected = await clean_output(mysql_server, schemas, tmp_path)
    out = tmp_path / "out.jsonl"
    config = my_config(
        mysql_server, schemas, out, username=reader, password=PASSWORD, threads=2, retries=5
    )
    import pymysql

    # hold one of the user's two connections: the run's second one is refused (1226)
    hog = pymysql.connect(
        host=mysql_server.host, port=mysql_server.port, user=reader, password=PASSWORD
    )
    try:
        async with anyio.create_task_group() as tg:

            async def release() -> None:
                await anyio.sleep(0.4)
                hog.close()

            tg.start_soon(release)
            report = await run(config)
    finally:
        if hog.open:
            hog.close()
    assert report.ok and report.errors == 0, report.issues
    assert max(u.attempts for u in report.units) >= 2
    assert out.read_bytes() == expected


@pytest.mark.parametrize(("threshold", "code"), [(100, 1), (80, 0)])
async def test_a_schema_that_keeps_failing_is_named_and_the_rest_delivered(
    mysql_server: MysqlServer, schemas: list[str], tmp_path: Path, threshold: int, code: int
) -> None:
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, schemas, out, success_threshold=threshold)

    async def broken(unit: Unit, connection: Any, attempt: int) -> None:
        if unit.schema.name == schemas[1]:
            raise PermissionError(f"injected: cannot read {unit.schema.name}")

    report = await run(config, broken)
    fqn = f"maria.default.{schemas[1]}"
    assert [(i.level, i.fqn) for i in report.issues] == [("error", fqn)]
    assert (report.units_ok, report.units_failed) == (SCHEMAS - 1, 1)
    assert report.success_pct == 80.0
    assert report.exit_code() == code
    if code != 0:  # below the threshold: nothing is published
        assert not out.exists() and not report.published
        return
    text = out.read_text(encoding="utf-8")
    assert all(f"maria.default.{s}" in text for s in schemas if s != schemas[1])
    assert f"maria.default.{schemas[1]}" not in text


async def test_broken_view_is_a_warning_with_its_fqn(
    mysql_server: MysqlServer, tmp_path: Path
) -> None:
    (name,) = mysql_server.create_schemas(1)
    db = quote_mysql(name)
    try:
        mysql_server.run(
            f"CREATE TABLE {db}.gone (a INT)",
            f"CREATE TABLE {db}.kept (a INT)",
            f"CREATE VIEW {db}.`broken view` AS SELECT a FROM {db}.gone",
            f"CREATE VIEW {db}.fine AS SELECT a FROM {db}.kept",
            f"DROP TABLE {db}.gone",
        )
        report = await run(my_config(mysql_server, [name], tmp_path / "o.jsonl"))
    finally:
        mysql_server.drop_schemas([name])
    fqn = f"maria.default.{name}"
    assert [(i.level, i.fqn) for i in report.issues] == [("warning", f"{fqn}.broken view")]
    assert "references invalid table" in report.issues[0].message
    assert (report.tables, report.views, report.errors) == (1, 1, 0)
    (unit,) = report.units
    assert (unit.discovered, unit.delivered, unit.filtered, unit.failed) == (3, 2, 0, 1)
    lines = (tmp_path / "o.jsonl").read_text(encoding="utf-8")
    assert "broken view" not in lines


async def test_cancellation_leaks_no_connection_and_no_file(
    mysql_server: MysqlServer, schemas: list[str], reader: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = my_config(mysql_server, schemas, out, username=reader, password=PASSWORD, threads=2)
    # cancelled once a seeded number of units are done, the others pending or in flight (a
    # delay in seconds would depend on how fast the run is)
    stop_after = random.Random(7).randint(1, SCHEMAS - 1)
    count = f"SELECT count(*) FROM information_schema.PROCESSLIST WHERE USER = '{reader}'"
    with anyio.CancelScope() as scope:

        def observe(progress: Progress) -> None:
            if progress.units_done >= stop_after:
                scope.cancel()

        workflow = Workflow(config, observer=observe)
        await workflow.run()
    remaining = -1
    with anyio.move_on_after(2):
        while remaining != 0:
            remaining = (await anyio.to_thread.run_sync(mysql_server.run, count))[0][0]
            await anyio.sleep(0.02)
    assert remaining == 0
    assert scope.cancelled_caught
    assert workflow.report.cancelled
    assert list(tmp_path.iterdir()) == []
