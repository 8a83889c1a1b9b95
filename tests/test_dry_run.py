"""``ingest --dry-run``: discovery and filters only; the same schemas a real run extracts."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.entities import Database
from metaingest.workflow import Workflow

from .clikit import run_cli, write_workflow
from .conftest import PgServer
from .faultkit import pg_execute
from .test_postgres_catalog import FIXTURE
from .wrappers import Delegating

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def fixture_db(postgres_server: PgServer) -> Iterator[str]:
    """The PostgreSQL fixture catalog in a database of its own."""
    name = postgres_server.create_database()
    try:
        anyio.run(pg_execute, postgres_server, name, FIXTURE.read_text(encoding="utf-8"))
        yield name
    finally:
        postgres_server.drop_database(name)


def source(server: PgServer, database: str) -> dict[str, Any]:
    """Every database on the server, filtered down to the fixture's, one schema excluded."""
    out = server.source(
        database_filter={"includes": [f"^{database}$"]},
        schema_filter={"excludes": ["^pg_", "^information_schema$", "^empty_schema$"]},
    )
    return out


class NoExtract(Delegating):
    """The real connector, with extraction and unit connections forbidden."""

    def connection(self, database: Database) -> Any:
        raise AssertionError("a dry run must not lend a unit connection")

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        raise AssertionError("a dry run must not extract")


def config_for(server: PgServer, database: str, out: Path) -> WorkflowConfig:
    return parse_config(
        {"source": source(server, database), "sink": {"type": "jsonl", "path": str(out)}}
    )


@pytest.mark.anyio
async def test_dry_run_extracts_nothing_and_plans_the_real_run(
    postgres_server: PgServer, fixture_db: str, tmp_path: Path
) -> None:
    config = config_for(postgres_server, fixture_db, tmp_path / "out.jsonl")
    real = PostgresConnector(config.source)  # type: ignore[arg-type]
    plan = await Workflow(config, NoExtract(real)).dry_run()
    assert real.peak_connections() == 1  # discovery's one connection, closed again
    assert not (tmp_path / "out.jsonl").exists()

    kept = sorted(u.unit.fqn for u in plan.units if u.skipped_because is None)
    skipped = {u.unit.schema.name: u.skipped_because for u in plan.units if u.skipped_because}
    assert skipped["empty_schema"] == "excluded by '^empty_schema$'"
    assert skipped["pg_catalog"] == "excluded by '^pg_'"
    dropped = {d.database.name: d.skipped_because for d in plan.databases if d.skipped_because}
    assert dropped["postgres"] == "matches no include pattern"
    assert fixture_db not in dropped

    workflow = Workflow(config)
    report = await workflow.run()
    assert report.ok
    assert sorted(timing.fqn for timing in report.units) == kept
    assert report.filtered.schemas == len(skipped)
    assert report.filtered.databases == len(dropped)


def test_cli_dry_run_lists_what_the_real_run_extracts(
    postgres_server: PgServer, fixture_db: str, tmp_path: Path
) -> None:
    workflow = write_workflow(
        tmp_path / "pg.yaml", source(postgres_server, fixture_db), tmp_path / "out.jsonl"
    )

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("ingest", "-c", str(workflow), *args)

    dry = cli("--dry-run")
    assert (dry.returncode, dry.stderr) == (0, ""), dry.stderr
    assert not (tmp_path / "out.jsonl").exists()
    lines = dry.stdout.splitlines()
    assert lines[0].startswith("dry run: would extract ")
    listed = sorted(line[11:] for line in lines if line.startswith("  extract  "))
    assert "  skip     database pg.postgres: matches no include pattern" in lines
    assert f"  skip     schema pg.{fixture_db}.empty_schema: excluded by '^empty_schema$'" in lines

    real = cli("-q", "--report", str(tmp_path / "report.json"))
    assert real.returncode == 0, real.stderr
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert listed == sorted(unit["fqn"] for unit in report["units"])
    assert len(listed) == report["units_total"] >= 3
