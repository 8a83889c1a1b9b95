"""Privileges are reported, not hidden; threads above the server's limit are warned about.

Real servers: a throwaway PostgreSQL role and databases (one without CONNECT for PUBLIC), a
throwaway MariaDB user with column-level grants only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from .clikit import run_cli, write_workflow
from .conftest import MysqlServer, PgServer, quote_mysql, unique_name


@dataclass
class Denied:
    role: str
    prefix: str
    open: str
    closed: str


@pytest.fixture(scope="module")
def denied(postgres_server: PgServer) -> Iterator[Denied]:
    prefix = unique_name()
    found = Denied(unique_name("mi_role_"), prefix, f"{prefix}_open", f"{prefix}_closed")
    server = postgres_server
    server.run("postgres", f'CREATE ROLE "{found.role}" LOGIN')
    try:
        server.run(
            "postgres", f'CREATE DATABASE "{found.open}"', f'CREATE DATABASE "{found.closed}"'
        )
        server.run("postgres", f'REVOKE CONNECT ON DATABASE "{found.closed}" FROM PUBLIC')
        yield found
    finally:
        server.drop_database(found.open)
        server.drop_database(found.closed)
        server.run("postgres", f'DROP ROLE IF EXISTS "{found.role}"')


def _pg_workflow(server: PgServer, denied: Denied, tmp_path: Path) -> Path:
    source = server.source(
        username=denied.role, database_filter={"includes": [f"^{denied.prefix}_"]}
    )
    return write_workflow(tmp_path / "w.yaml", source, tmp_path / "out.jsonl")


@pytest.mark.postgres
def test_databases_without_connect_are_listed_as_skipped(
    postgres_server: PgServer, denied: Denied, tmp_path: Path
) -> None:
    workflow = _pg_workflow(postgres_server, denied, tmp_path)
    skipped = f"pg.{denied.closed}: no CONNECT privilege for user '{denied.role}'"

    dry = run_cli("ingest", "-c", str(workflow), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"  extract  pg.{denied.open}.public" in dry.stdout.splitlines()
    assert "not readable (1):" in dry.stdout.splitlines()
    assert f"  skip     database {skipped}" in dry.stdout.splitlines()

    wide = {**os.environ, "COLUMNS": "250"}  # the table is not wrapped
    check = subprocess.run(
        [sys.executable, "-m", "metaingest", "test-connection", "-c", str(workflow)],
        capture_output=True,
        text=True,
        timeout=60,
        env=wide,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    row = next(line for line in check.stdout.splitlines() if denied.closed in line)
    assert "no access" in row and "no CONNECT privilege" in row
    assert "1 database(s) skipped: no access" in check.stdout

    run = run_cli("ingest", "-c", str(workflow), "--report", str(tmp_path / "r.json"))
    assert run.returncode == 0, run.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    assert report["warnings"] == 1
    assert report["issues"] == [
        {
            "level": "warning",
            "fqn": f"pg.{denied.closed}",
            "message": f"skipped: no CONNECT privilege for user '{denied.role}'",
        }
    ]
    assert f"  warning: pg.{denied.closed}: skipped: no CONNECT" in run.stdout
    # --strict makes the hidden database fail the run, and nothing is published
    (tmp_path / "out.jsonl").unlink()
    strict = run_cli("ingest", "-c", str(workflow), "--strict")
    assert strict.returncode == 1
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.postgres
def test_threads_above_what_postgres_accepts_are_warned_about(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    source = postgres_server.source(pg_database, threads=5000)
    workflow = write_workflow(tmp_path / "w.yaml", source, tmp_path / "out.jsonl")
    result = run_cli("ingest", "-c", str(workflow))
    assert result.returncode == 0, result.stderr
    where = f"{postgres_server.host}:{postgres_server.port}"
    assert f"threads 5000 is more than PostgreSQL at {where} accepts now: max_connections " in (
        result.stderr
    )
    assert "superuser_reserved_connections" in result.stderr
    modest = write_workflow(
        tmp_path / "m.yaml", postgres_server.source(pg_database, threads=2), tmp_path / "o2.jsonl"
    )
    result = run_cli("ingest", "-c", str(modest))
    assert (result.returncode, result.stderr) == (0, "")


@dataclass
class Granted:
    user: str
    schema: str


@pytest.fixture(scope="module")
def granted(mysql_server: MysqlServer) -> Iterator[Granted]:
    user = unique_name("mi_u_")
    (schema,) = mysql_server.create_schemas(1)
    q = quote_mysql(schema)
    account = f"'{user}'@'%'"
    try:
        mysql_server.run(
            f"CREATE TABLE {q}.partial (id INT PRIMARY KEY, visible TEXT, secret TEXT)",
            f"CREATE TABLE {q}.whole (id INT PRIMARY KEY)",
            f"CREATE USER {account}",
            f"GRANT SELECT (id, visible) ON {q}.partial TO {account}",
            f"GRANT SELECT ON {q}.whole TO {account}",
        )
        yield Granted(user, schema)
    finally:
        mysql_server.run(f"DROP USER IF EXISTS {account}")
        mysql_server.drop_schemas([schema])


@pytest.mark.mysql
def test_column_level_grants_are_warned_about_with_the_tables_fqn(
    mysql_server: MysqlServer, granted: Granted, tmp_path: Path
) -> None:
    source = mysql_server.source(
        username=granted.user, schema_filter={"includes": [f"^{granted.schema}$"]}
    )
    out = tmp_path / "out.jsonl"
    workflow = write_workflow(tmp_path / "w.yaml", source, out)
    result = run_cli("ingest", "-c", str(workflow), "--report", str(tmp_path / "r.json"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))
    fqn = f"maria.default.{granted.schema}.partial"
    assert report["issues"] == [
        {
            "level": "warning",
            "fqn": fqn,
            "message": f"user '{granted.user}' has column-level grants only on this table: only "
            "the granted columns are visible, and no keys",
        }
    ]
    tables = {
        row["name"]: [c["name"] for c in row["columns"]]
        for row in map(json.loads, out.read_text(encoding="utf-8").splitlines())
        if row["kind"] == "table"
    }
    assert tables == {"partial": ["id", "visible"], "whole": ["id"]}


@pytest.mark.mysql
def test_threads_above_what_mariadb_accepts_are_warned_about(
    mysql_server: MysqlServer, granted: Granted, tmp_path: Path
) -> None:
    source = mysql_server.source(
        threads=100000, schema_filter={"includes": [f"^{granted.schema}$"]}
    )
    workflow = write_workflow(tmp_path / "w.yaml", source, tmp_path / "out.jsonl")
    result = run_cli("ingest", "-c", str(workflow))
    assert result.returncode == 0, result.stderr
    assert "threads 100000 is more than mysql at " in result.stderr
    assert "max_connections is " in result.stderr
