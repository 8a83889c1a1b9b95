"""MariaDB: the server's own count of the connector's connections never exceeds threads."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.workflow import Workflow
from tests.conftest import MysqlServer

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]

SCHEMAS = 30
PASSWORD = "conc-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def many_schemas(mysql_server: MysqlServer) -> Iterator[list[str]]:
    """~30 small schemas, each with a few related tables and a view."""
    names = mysql_server.create_schemas(SCHEMAS)
    try:
        statements: list[str] = []
        for name in names:
            statements += [
                f"CREATE TABLE `{name}`.parent (id INT PRIMARY KEY, label VARCHAR(20) UNIQUE)",
                f"CREATE TABLE `{name}`.child (id INT PRIMARY KEY, parent_id INT, note TEXT"
                f" COMMENT 'note', FOREIGN KEY (parent_id) REFERENCES `{name}`.parent (id))",
                f"CREATE TABLE `{name}`.wide (a INT, b DECIMAL(9,3), c DATETIME, d ENUM('x','y'),"
                " e VARCHAR(9) DEFAULT 'e', f DOUBLE, g JSON, h BLOB)",
                f"CREATE VIEW `{name}`.v AS SELECT id, label FROM `{name}`.parent",
            ]
        mysql_server.run(*statements)
        yield names
    finally:
        mysql_server.drop_schemas(names)


@pytest.fixture
def dedicated_user(mysql_server: MysqlServer) -> Iterator[str]:
    """A user only this test connects as, so PROCESSLIST can be filtered by it."""
    user = "mi_test_u" + uuid.uuid4().hex[:8]
    mysql_server.run(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'",
        f"GRANT SELECT, SHOW VIEW ON *.* TO '{user}'@'%'",
    )
    try:
        yield user
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")


def make_config(
    server: MysqlServer, prefix: str, out: Path, threads: int, **extra: Any
) -> WorkflowConfig:
    source = server.source(
        threads=threads, schema_filter={"includes": ["^" + re.escape(prefix)]}, **extra
    )
    return parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out)}})


class Sampler:
    """Polls PROCESSLIST on its own connection, in its own thread, every couple of ms."""

    def __init__(self, server: MysqlServer, user: str) -> None:
        self.server = server
        self.user = user
        self.samples: list[int] = []
        self.stop = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        conn = self.server.connect()
        try:
            with conn.cursor() as cur:
                while not self.stop.is_set():
                    cur.execute(
                        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s",
                        (self.user,),
                    )
                    self.samples.append(int(cur.fetchone()[0]))
                    self.ready.set()
                    time.sleep(0.002)
        finally:
            self.ready.set()  # never leave the test waiting, even if the sampler failed
            conn.close()


async def test_peak_connections_never_exceed_threads(
    mysql_server: MysqlServer, many_schemas: list[str], dedicated_user: str, tmp_path: Path
) -> None:
    prefix = many_schemas[0].rsplit("_", 1)[0]
    config = make_config(
        mysql_server,
        prefix,
        tmp_path / "out.jsonl",
        threads=3,
        username=dedicated_user,
        password=PASSWORD,
    )
    sampler = Sampler(mysql_server, dedicated_user)
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.to_thread.run_sync, sampler.run)
        await anyio.to_thread.run_sync(sampler.ready.wait)
        try:
            report = await Workflow(config).run()
        finally:
            sampler.stop.set()
    assert report.ok, report.issues
    assert report.schemas == SCHEMAS
    assert (report.tables, report.views) == (3 * SCHEMAS, SCHEMAS)
    assert max(sampler.samples) <= 3
    assert max(sampler.samples) >= 2
    assert 2 <= report.peak_connections <= 3
    print(f"samples={len(sampler.samples)} server-side max={max(sampler.samples)}")
    # every connection is closed once the run is over
    (row,) = mysql_server.run(
        f"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{dedicated_user}'"
    )
    assert row[0] == 0


async def test_threads_1_and_8_write_identical_bytes(
    mysql_server: MysqlServer, many_schemas: list[str], tmp_path: Path
) -> None:
    prefix = many_schemas[0].rsplit("_", 1)[0]
    outputs = {}
    for threads in (1, 8):
        out = tmp_path / f"threads-{threads}.jsonl"
        report = await Workflow(make_config(mysql_server, prefix, out, threads)).run()
        assert report.ok, report.issues
        assert report.peak_connections <= threads
        outputs[threads] = out.read_bytes()
    assert outputs[1] == outputs[8]
    assert len(outputs[1].splitlines()) == 1 + SCHEMAS * 5
