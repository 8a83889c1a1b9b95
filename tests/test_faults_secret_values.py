"""Awkward passwords on the real servers: masking never garbles an error message, and a
password read from the environment is used exactly as it is, whatever the command line adds.

Each MariaDB user here is a throwaway one with a unique name, dropped afterwards.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from metaingest.connectors.base import Unit

from .conftest import MysqlServer, PgServer, free_port, quote_mysql, unique_name
from .faultkit import config_of
from .faultkit import run as run_workflow
from .faultproxy import FaultProxy

RIGHT = "R1ght-" + unique_name("")


def run(
    tmp_path: Path, source: dict[str, object], *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``ingest`` on ``source``; return (exit code, stderr, everything it wrote)."""
    (tmp_path / "f.yaml").write_text(
        yaml.safe_dump({"source": source, "sink": {"type": "jsonl", "path": "out.jsonl"}}),
        encoding="utf-8",
    )
    command = ["ingest", "-c", "f.yaml", "--report", "r.json", "--log-file", "run.log", *args]
    result = subprocess.run(
        [sys.executable, "-m", "metaingest", *command],
        cwd=tmp_path,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    written = [p.read_text(encoding="utf-8") for p in tmp_path.iterdir() if p.name != "f.yaml"]
    return result.returncode, result.stderr, "\n".join([result.stdout, result.stderr, *written])


@pytest.fixture
def maria_user(mysql_server: MysqlServer) -> Iterator[str]:
    user = unique_name()
    mysql_server.run(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{RIGHT}'")
    try:
        yield user
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.mysql
@pytest.mark.parametrize("password", ["x", "1", "e", "denied", "user", "SAME", "(.*)+[x]?$"])
def test_access_denied_reads_the_same_whatever_the_wrong_password(
    mysql_server: MysqlServer, maria_user: str, tmp_path: Path, password: str
) -> None:
    password = maria_user if password == "SAME" else password
    source = mysql_server.source(username=maria_user, password=password)
    code, stderr, everything = run(tmp_path, source)
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert f"Access denied for user '{maria_user}'@" in stderr
    assert "(using password: YES)" in stderr
    assert f"127.0.0.1:{mysql_server.port}" in stderr
    assert "***" not in stderr  # nothing in this message is the password standing as one
    assert RIGHT not in everything
    if len(password) >= 4 and not password.isalpha() and password != maria_user:
        assert password not in everything


@pytest.mark.postgres
@pytest.mark.parametrize("password", ["1", "0", "x", "127"])
def test_a_refused_connection_names_the_address_intact(
    postgres_server: PgServer, tmp_path: Path, password: str
) -> None:
    port = free_port()
    code, stderr, _ = run(
        tmp_path, postgres_server.source("postgres", port=port, password=password)
    )
    assert code == 2 and stderr.count("\n") == 1, stderr
    assert f"127.0.0.1:{port}" in stderr and "refused" in stderr.lower()
    assert "***" not in stderr


@pytest.fixture
def maria_schema(mysql_server: MysqlServer) -> Iterator[str]:
    (schema,) = mysql_server.create_schemas(1)
    try:
        mysql_server.run(f"CREATE TABLE {quote_mysql(schema)}.t_secret_values (a INT)")
        yield schema
    finally:
        mysql_server.drop_schemas([schema])


@pytest.mark.mysql
@pytest.mark.parametrize("password", ["Tr0ub${dor}&3", "s3cr${et:-}!", "p$$w0rd $HOME"])
@pytest.mark.parametrize(
    "flags", [["--threads", "2"], ["--strict"], ["--threads", "3", "--strict"]]
)
def test_a_password_from_the_environment_is_interpolated_once(
    mysql_server: MysqlServer,
    maria_schema: str,
    tmp_path: Path,
    password: str,
    flags: list[str],
) -> None:
    user = unique_name()
    mysql_server.run(
        f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'",
        f"GRANT SELECT ON {quote_mysql(maria_schema)}.* TO '{user}'@'%'",
    )
    try:
        source = mysql_server.source(
            username=user,
            password="${MI_TEST_SECRET}",
            schema_filter={"includes": [f"^{maria_schema}$"]},
        )
        code, stderr, everything = run(tmp_path, source, *flags, env={"MI_TEST_SECRET": password})
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")
    assert code == 0, stderr
    assert "t_secret_values" in (tmp_path / "out.jsonl").read_text(encoding="utf-8")
    for fragment in (password, password[:5], "${dor}", "${et", "environment variable"):
        assert fragment not in everything


def test_a_home_folder_in_the_sink_path_is_expanded(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    db = home / "c.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t_home (a INT)")
    conn.close()
    work = tmp_path / "work"
    work.mkdir()
    (work / "w.yaml").write_text(
        "source: {type: sqlite, path: ~/c.db}\nsink: {type: jsonl, path: ~/out/x.jsonl}\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [sys.executable, "-m", "metaingest", "ingest", "-c", "w.yaml", "-q"],
        cwd=work,
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "t_home" in (home / "out" / "x.jsonl").read_text(encoding="utf-8")
    assert not (work / "~").exists()


@pytest.mark.postgres
@pytest.mark.anyio
@pytest.mark.parametrize("password", ["x", "e", "on"])
async def test_a_cut_connection_is_reported_unmasked(
    postgres_server: PgServer, pg_database: str, tmp_path: Path, password: str
) -> None:
    async with FaultProxy(postgres_server.port) as proxy:

        async def cut(unit: Unit, connection: Any, attempt: int) -> None:
            proxy.cut_after(1)  # discovery is done: the unit's first query is cut

        config = config_of(
            postgres_server.source(pg_database, port=proxy.port, password=password),
            tmp_path / "out.jsonl",
            retries=0,
        )
        report = await run_workflow(config, cut)
    (issue,) = report.issues
    assert issue.fqn == f"pg.{pg_database}.public"
    assert issue.message.startswith(
        "ConnectionDoesNotExistError: connection was closed in the middle of operation"
    )
