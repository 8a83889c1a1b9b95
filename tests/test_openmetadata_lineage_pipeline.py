"""OpenMetadata's lineage pipeline file, run after its metadata pipeline file: real PostgreSQL,
the stand-in OpenMetadata API (every request validated against the official schemas).

The lineage run sends ``PUT /v1/lineage`` and nothing else that writes: every view and
upstream is looked up by FQN; one the server does not hold is a warning naming it, and only
that edge is left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml

from metaingest.config import load_config
from metaingest.report import Report
from metaingest.workflow import Workflow

from .clikit import run_cli
from .conftest import PgServer
from .omserver import OMServer

TOKEN = "test-token"

PG_SCRIPT = [
    "CREATE SCHEMA sales",
    "CREATE SCHEMA hr",
    "CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer int, total numeric(12,2))",
    "CREATE VIEW sales.big_orders AS SELECT id, total FROM sales.orders WHERE total > 100",
    "CREATE TABLE hr.people (id int PRIMARY KEY, boss int REFERENCES hr.people)",
    "CREATE TABLE hr.payroll (person int REFERENCES hr.people, amount int)",
    "CREATE VIEW sales.staff AS SELECT p.id, p.boss AS manager FROM hr.people p",
]
# After the metadata run: a table a metadata run would soft-delete, a view reading a table
# the server does not hold, and a view the server does not hold.
AFTER_METADATA = [
    "DROP TABLE hr.payroll",
    "CREATE TABLE hr.bonus (person int, amount int)",
    "CREATE OR REPLACE VIEW sales.staff AS SELECT p.id, p.boss AS manager, b.amount"
    " FROM hr.people p JOIN hr.bonus b ON b.person = p.id",
    "CREATE VIEW sales.fresh AS SELECT id FROM sales.orders",
]
WRITES = {"PUT", "PATCH", "POST", "DELETE"}


@pytest.fixture
def om() -> Iterator[OMServer]:
    with OMServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def pg_catalog(postgres_server: PgServer, pg_database: str) -> str:
    postgres_server.run(pg_database, *PG_SCRIPT)
    return pg_database


def workflow_file(
    tmp_path: Path, pg: PgServer, database: str, om: OMServer, pipeline: dict[str, Any]
) -> Path:
    """An OpenMetadata workflow file for this server and database, with ``pipeline``."""
    doc = {
        "source": {
            "type": "postgres",
            "serviceName": "pg",
            "serviceConnection": {
                "config": {
                    "type": "Postgres",
                    "username": pg.user,
                    "hostPort": f"{pg.host}:{pg.port}",
                    "database": database,
                }
            },
            "sourceConfig": {"config": pipeline},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "openMetadataServerConfig": {
                "hostPort": om.url,
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": TOKEN},
            }
        },
    }
    path = tmp_path / f"{pipeline['type']}.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


async def run(path: Path) -> Report:
    with anyio.fail_after(60):
        return await Workflow(load_config(path, env={})).run()


def edges(om: OMServer) -> dict[tuple[str, str], dict[str, Any]]:
    by_id = om.store.by_id
    return {(by_id[a].fqn, by_id[b].fqn): d for (a, b), d in om.store.lineage.items()}


def versions(om: OMServer) -> dict[str, dict[str, tuple[float, bool]]]:
    collections = ("services/databaseServices", "databases", "databaseSchemas", "tables")
    return {
        c: {fqn: (e["version"], e["deleted"]) for fqn, e in om.store.all(c).items()}
        for c in collections
    }


@pytest.mark.anyio
async def test_the_lineage_file_after_the_metadata_file_sends_lineage_and_nothing_else(
    tmp_path: Path, postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    db = f"pg.{pg_catalog}"
    metadata = workflow_file(
        tmp_path, postgres_server, pg_catalog, om, {"type": "DatabaseMetadata"}
    )
    report = await run(metadata)
    assert report.ok and report.published, report.issues
    assert edges(om) == {}  # the metadata pipeline sends no lineage (include_lineage is off)
    await anyio.to_thread.run_sync(lambda: postgres_server.run(pg_catalog, *AFTER_METADATA))

    before = versions(om)
    start = len(om.log)
    lineage = workflow_file(
        tmp_path,
        postgres_server,
        pg_catalog,
        om,
        {"type": "DatabaseLineage", "processQueryLineage": False, "threads": 2},
    )
    report = await run(lineage)
    assert report.ok and report.published, report.issues
    assert om.invalid == []
    sent = om.log[start:]
    # lineage only: no entity PUT, no DELETE (a metadata run would soft-delete hr.payroll)
    assert {(m, r) for m, r in sent if m in WRITES} == {("PUT", "put lineage")}
    # the version check, then each view and upstream by name ("tables": a 404's route)
    assert {r for m, r in sent if m == "GET"} == {"version", "get table", "tables"}
    assert versions(om) == before
    assert f"{db}.hr.payroll" in om.store.live("tables")

    found = edges(om)
    assert set(found) == {
        (f"{db}.sales.orders", f"{db}.sales.big_orders"),
        (f"{db}.hr.people", f"{db}.sales.staff"),  # its other upstream is missing
    }
    details = found[(f"{db}.sales.orders", f"{db}.sales.big_orders")]
    assert details["source"] == "ViewLineage"
    assert {c["toColumn"] for c in details["columnsLineage"]} == {
        f"{db}.sales.big_orders.id",
        f"{db}.sales.big_orders.total",
    }
    staff = found[(f"{db}.hr.people", f"{db}.sales.staff")]
    assert {c["toColumn"] for c in staff["columnsLineage"]} == {
        f"{db}.sales.staff.id",
        f"{db}.sales.staff.manager",
    }
    # every id was looked up by name, each FQN once: 3 views, orders, people and bonus
    assert sum(1 for m, r in sent if m == "GET" and r in ("get table", "tables")) == 6
    warnings = {(i.fqn, i.message) for i in report.issues if i.level == "warning"}
    assert warnings == {
        (
            f"{db}.sales.staff",
            f"lineage: {db}.hr.bonus is not on the OpenMetadata server: edge left out",
        ),
        (
            f"{db}.sales.fresh",
            f"lineage: {db}.sales.fresh is not on the OpenMetadata server: edge left out",
        ),
    }


@pytest.mark.anyio
async def test_the_command_line_runs_a_lineage_file_and_names_what_it_ignores(
    tmp_path: Path, postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    db = f"pg.{pg_catalog}"
    metadata = workflow_file(
        tmp_path, postgres_server, pg_catalog, om, {"type": "DatabaseMetadata"}
    )
    assert (await run(metadata)).published
    start = len(om.log)
    lineage = workflow_file(
        tmp_path, postgres_server, pg_catalog, om, {"type": "DatabaseLineage", "resultLimit": 10}
    )
    out = tmp_path / "report.json"
    result = await anyio.to_thread.run_sync(
        lambda: run_cli("ingest", "-c", str(lineage), "--report", str(out))
    )
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last == f"wrote the OpenMetadata server {om.url} (view lineage only)"
    for key in ("processQueryLineage", "processStoredProcedureLineage", "resultLimit"):
        assert f"source.sourceConfig.config.{key}: " in result.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["issues"] == []
    assert {(m, r) for m, r in om.log[start:] if m in WRITES} == {("PUT", "put lineage")}
    assert set(edges(om)) == {
        (f"{db}.sales.orders", f"{db}.sales.big_orders"),
        (f"{db}.hr.people", f"{db}.sales.staff"),
    }
    assert om.invalid == []
