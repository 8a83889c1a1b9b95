"""SIGINT and SIGTERM on the CLI: stop, close every connection, write nothing, say so."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from anyio.abc import ByteReceiveStream

from .conftest import PgServer, unique_name
from .faultkit import pg_execute, pg_side, pg_wait_gone

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def catalog(postgres_server: PgServer) -> Iterator[str]:
    """Three schemas; s1's view can be locked so that its unit blocks in pg_get_viewdef."""
    name = postgres_server.create_database()
    script = ";\n".join(
        f"CREATE SCHEMA s{s}; CREATE TABLE s{s}.t (id int PRIMARY KEY);"
        f" CREATE VIEW s{s}.v AS SELECT id FROM s{s}.t"
        for s in range(3)
    )
    try:
        anyio.run(pg_execute, postgres_server, name, script)
        yield name
    finally:
        postgres_server.drop_database(name)


async def _read(stream: ByteReceiveStream | None) -> str:
    chunks = []
    if stream is not None:
        async for chunk in stream:
            chunks.append(chunk)
    return b"".join(chunks).decode()


async def _interrupt(
    server: PgServer, database: str, tmp_path: Path, signum: int
) -> tuple[int, str, str, int]:
    app = unique_name("mi_sig_")
    out = tmp_path / "out.jsonl"
    workflow = tmp_path / "w.yaml"
    workflow.write_text(
        f"source: {{type: postgres, host: {server.host}, port: {server.port},"
        f" username: {server.user}, database: {database}, application_name: {app},"
        f" threads: 2}}\nsink: {{type: jsonl, path: {out}}}\n",
        encoding="utf-8",
    )
    async with pg_side(server, database) as locker, pg_side(server) as watcher:
        # Hold the view's lock: the unit of s1 waits for it inside its catalog query.
        tx = locker.transaction()
        await tx.start()
        await locker.execute("LOCK TABLE s1.v IN ACCESS EXCLUSIVE MODE")
        proc = await anyio.open_process(
            [sys.executable, "-m", "metaingest", "ingest", "-c", str(workflow)],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            waiting = 0
            with anyio.move_on_after(20):
                while not waiting:  # until the unit of s1 is blocked on the lock
                    waiting = await watcher.fetchval(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = $1 AND wait_event_type = 'Lock'",
                        app,
                    )
                    await anyio.sleep(0.05)
            assert waiting == 1, "the run never reached the locked view"
            proc.send_signal(signum)
            with anyio.fail_after(20):
                await proc.wait()
            stdout, stderr = await _read(proc.stdout), await _read(proc.stderr)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await tx.rollback()
        left = await pg_wait_gone(watcher, app)
    assert not out.exists()
    assert list(tmp_path.glob(".out.jsonl*")) == []
    return proc.returncode, stdout, stderr, left


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_the_run_cleanly(
    postgres_server: PgServer, catalog: str, tmp_path: Path, signum: int, code: int
) -> None:
    returncode, stdout, stderr, left = anyio.run(
        _interrupt, postgres_server, catalog, tmp_path, signum
    )
    assert returncode == code, stderr
    assert left == 0  # every source connection closed on the server
    assert "interrupted" in stdout  # the partial summary
    lines = stdout.splitlines()
    cells = dict(zip(lines[1].split(), lines[2].split(), strict=False))
    assert int(lines[2].split()[-1]) >= 1, stdout  # peak conn: what was really open
    assert "%" in lines[2], cells  # discovery finished: a success rate
    assert lines[-1].startswith("nothing was published (the run was interrupted)"), stdout
    assert "Traceback" not in stderr
