"""examples/embed_server.py: an ingestion inside a running web app, watched and cancelled."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.workflow import Workflow

from .clikit import ROOT, build_demo
from .conftest import PgServer, unique_name
from .faultkit import pg_side
from .test_progress import many_schemas_script

sys.path.insert(0, str(ROOT / "examples"))
import embed_server

SCHEMAS = 6


async def http(port: int, method: str, path: str) -> tuple[int, str]:
    """One request on a fresh connection; the whole response body."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(f"{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
        data = b""
        while True:
            try:
                data += await stream.receive()
            except anyio.EndOfStream:
                break
    head, _, body = data.decode().partition("\r\n\r\n")
    return int(head.split(" ", 2)[1]), body


async def poll(port: int, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Ask /progress until ``done`` holds (an HTTP client can only ask again)."""
    while True:
        now = await status(port)
        if done(now):
            return now
        await anyio.sleep(0.02)


async def status(port: int) -> dict[str, Any]:
    code, body = await http(port, "GET", "/progress")
    assert code == 200
    result: dict[str, Any] = json.loads(body)
    return result


@pytest.fixture(scope="module")
def six_db(postgres_server: PgServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        postgres_server.run(name, many_schemas_script(SCHEMAS))
        yield name
    finally:
        postgres_server.drop_database(name)


async def server_connections(server: PgServer, application_name: str) -> int:
    async with pg_side(server) as side:
        count: int = await side.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
            application_name,
        )
        return count


@pytest.mark.postgres
@pytest.mark.anyio
async def test_start_watch_and_cancel_a_postgres_run(
    postgres_server: PgServer, six_db: str, tmp_path: Path
) -> None:
    app = unique_name("mi_app_")
    out = tmp_path / "out.jsonl"
    config = parse_config(
        {
            "source": postgres_server.source(six_db, threads=2, application_name=app),
            "sink": {"type": "jsonl", "path": str(out)},
        }
    )
    gate = anyio.Event()  # never set: every schema but public waits here until cancelled
    connectors: list[PostgresConnector] = []

    class Gated(PostgresConnector):
        async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
            if unit.schema.name != "public":
                await gate.wait()
            return await super().extract(unit, connection)

    def factory(config: WorkflowConfig, **options: Any) -> Workflow:
        connector = Gated(config.source)  # type: ignore[arg-type]
        connectors.append(connector)
        return Workflow(config, connector, **options)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            port, _service = await tg.start(
                lambda task_status: embed_server.serve(
                    config, port=0, workflow_factory=factory, task_status=task_status
                )
            )
            assert (await status(port))["state"] == "idle"
            code, body = await http(port, "POST", "/run")
            assert (code, json.loads(body)["state"]) == (202, "running")
            assert (await http(port, "POST", "/run"))[0] == 409  # one run at a time

            while True:  # public is done; two more schemas hold the two slots
                now = await status(port)
                progress = now["progress"]
                if progress and progress["units_done"] == 1 and len(progress["in_flight"]) == 2:
                    break
                await anyio.sleep(0.02)
            assert now["state"] == "running"
            assert progress["units_total"] == SCHEMAS + 1
            assert progress["tables"] == 0  # public has no tables
            assert progress["percent"] == round(100 / (SCHEMAS + 1), 1)
            assert await server_connections(postgres_server, app) == 2

            code, events = await http_first_event(port)
            assert code == 200
            assert json.loads(events)["progress"]["units_done"] == 1

            assert (await http(port, "POST", "/cancel"))[0] == 202
            now = await poll(port, lambda now: now["state"] != "running")
            assert now["state"] == "cancelled"
            assert now["report"]["cancelled"] is True
            assert now["report"]["units_ok"] == 1
            tg.cancel_scope.cancel()

    assert not out.exists()
    [connector] = connectors
    assert connector._pool.statistics().open == 0
    while True:  # the server sees the closes a moment later
        if await server_connections(postgres_server, app) == 0:
            break
        await anyio.sleep(0.05)


async def http_first_event(port: int) -> tuple[int, str]:
    """Open /events and return the first event's data."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(b"GET /events HTTP/1.1\r\nHost: test\r\n\r\n")
        data = b""
        while b"\n\n" not in data.partition(b"\r\n\r\n")[2]:
            data += await stream.receive()
    head, _, body = data.decode().partition("\r\n\r\n")
    assert "text/event-stream" in head
    return int(head.split(" ", 2)[1]), body.split("\n\n")[0].removeprefix("data: ")


def test_example_runs_as_a_program_on_the_demo(tmp_path: Path) -> None:
    build_demo(tmp_path)
    with subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "embed_server.py"), "demo.yaml", "--port", "0"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        port = int(line.rsplit(":", 1)[1])

        async def drive() -> dict[str, Any]:
            assert (await http(port, "POST", "/run"))[0] == 202
            return await poll(port, lambda now: now["state"] != "running")

        try:
            final = anyio.run(drive)
        finally:
            proc.terminate()
    assert final["state"] == "finished"
    assert final["progress"]["percent"] == 100.0
    assert (final["report"]["tables"], final["report"]["views"]) == (8, 2)
    assert (tmp_path / "out" / "demo.jsonl").exists()
