"""Discovery pipelined with extraction over several PostgreSQL databases (issue 15): the
connection cap during discovery as the server sees it, the order of listings and units,
byte-identical output for any ``threads``, and discovery's retries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metaingest.config import WorkflowConfig
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.postgres import PostgresConnector
from metaingest.entities import Database, DatabaseSchema
from metaingest.errors import EmptyRunError
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .faultkit import config_of, pg_databases, run, run_with_namespace_locked
from .wrappers import Delegating

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

DATABASES = 5
SCRIPT = """
CREATE SCHEMA s0;
CREATE TABLE s0.t (id integer PRIMARY KEY, note text DEFAULT 'x');
CREATE SCHEMA s1;
CREATE TABLE s1.t (id integer PRIMARY KEY, parent integer REFERENCES s0.t (id));
CREATE VIEW s1.v AS SELECT id FROM s1.t;
"""
SCHEMAS = 3  # public, s0, s1

# counted on the listing connection itself, while it holds its slot
COUNT = (
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE application_name = current_setting('application_name')"
)


@pytest.fixture(scope="module")
def tenants(postgres_server: PgServer) -> Iterator[list[str]]:
    """Five small databases, in name order."""
    with pg_databases(postgres_server, DATABASES, SCRIPT) as names:
        yield names


def config(
    server: PgServer, out: Path, databases: list[str], retries: int = 0, **source: Any
) -> WorkflowConfig:
    source.setdefault("application_name", unique_name("mi_app_"))
    return config_of(server.source(databases=databases, **source), out, retries=retries)


class Recording(Delegating):
    """Records listings and extractions (with the server pid of the connection used).

    A listing first holds a pooled connection to its database for a moment and counts the
    run's connections on the server from it, so that discovery's connections are sampled
    while several listings are open at once.
    """

    def __init__(self, cfg: WorkflowConfig) -> None:
        super().__init__(PostgresConnector(cfg.source))  # type: ignore[arg-type]
        self.events: list[tuple[str, str, int]] = []
        self.counts: list[int] = []

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        async with self.inner.connection(database) as connection:
            await connection.execute("SELECT pg_sleep(0.05)")
            self.counts.append(await connection.fetchval(COUNT))
            pid = connection.get_server_pid()
        schemas = await self.inner.list_schemas(database)  # on the same, now idle, connection
        self.events.append(("list", database.name, pid))
        return schemas

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        self.events.append(("extract", unit.database.name, connection.get_server_pid()))
        return await self.inner.extract(unit, connection)


async def test_threads_cap_connections_during_discovery_too(
    postgres_server: PgServer, tenants: list[str], tmp_path: Path
) -> None:
    cfg = config(postgres_server, tmp_path / "o.jsonl", tenants, threads=3)
    connector = Recording(cfg)
    report = await Workflow(cfg, connector=connector).run()
    assert report.ok and report.units_ok == DATABASES * SCHEMAS
    assert len(connector.counts) == DATABASES
    # the server never saw more than threads connections of the run while listing
    assert max(connector.counts) <= 3, connector.counts
    # and listings did run at once (two start together before any unit is known)
    assert max(connector.counts) >= 2, connector.counts
    assert report.peak_connections <= 3


async def test_units_start_before_the_last_database_is_listed(
    postgres_server: PgServer, tenants: list[str], tmp_path: Path
) -> None:
    cfg = config(postgres_server, tmp_path / "o.jsonl", tenants, threads=2)
    connector = Recording(cfg)
    report = await Workflow(cfg, connector=connector).run()
    assert report.ok
    kinds = [kind for kind, _, _ in connector.events]
    last_listing = len(kinds) - 1 - kinds[::-1].index("list")
    assert kinds.index("extract") < last_listing, connector.events


async def test_one_thread_lists_a_database_then_extracts_it_on_the_same_connection(
    postgres_server: PgServer, tenants: list[str], tmp_path: Path
) -> None:
    cfg = config(postgres_server, tmp_path / "o.jsonl", tenants, threads=1)
    connector = Recording(cfg)
    report = await Workflow(cfg, connector=connector).run()
    assert report.ok
    expected = []
    for name in tenants:
        expected += [("list", name)] + [("extract", name)] * SCHEMAS
    assert [(kind, name) for kind, name, _ in connector.events] == expected
    pids: dict[str, set[int]] = {}
    for _, name, pid in connector.events:
        pids.setdefault(name, set()).add(pid)
    assert all(len(used) == 1 for used in pids.values()), pids


async def test_output_is_identical_for_every_threads(
    postgres_server: PgServer, tenants: list[str], tmp_path: Path
) -> None:
    outputs = {}
    for threads in (1, 4, 8):
        out = tmp_path / f"t{threads}.jsonl"
        cfg = config(postgres_server, out, tenants, threads=threads)
        workflow = Workflow(cfg)
        report = await workflow.run()
        assert report.ok and report.units_total == DATABASES * SCHEMAS
        assert report.discovery_done
        scope = workflow.scope()
        assert [d.database.name for d in scope.plan.databases] == tenants
        kept = [u for u in scope.plan.units if u.skipped_because is None]
        assert len(kept) == DATABASES * SCHEMAS
        # the same plan as the dry run's discovery, one database after another
        assert scope.plan == await Workflow(cfg).dry_run()
        outputs[threads] = out.read_bytes()
    assert outputs[1] == outputs[4] == outputs[8]
    assert outputs[1].count(b'"kind":"databaseSchema"') == DATABASES * SCHEMAS


async def test_a_listing_that_times_out_is_retried_while_others_extract(
    postgres_server: PgServer, tenants: list[str], tmp_path: Path
) -> None:
    clean = tmp_path / "clean.jsonl"
    assert (await run(config(postgres_server, clean, tenants, threads=2))).ok
    out = tmp_path / "out.jsonl"
    cfg = config(postgres_server, out, tenants, 8, threads=2, statement_timeout=0.2)
    # the schema listing reads pg_namespace: it waits, and statement_timeout cancels it
    report = await run_with_namespace_locked(postgres_server, tenants[2], cfg)
    assert report.ok and report.errors == 0, report.issues
    assert out.read_bytes() == clean.read_bytes()


async def test_nothing_left_by_the_filters_is_an_empty_run(
    postgres_server: PgServer, tenants: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "o.jsonl"
    cfg = config(postgres_server, out, tenants, schema_filter={"includes": ["^no_such_schema$"]})
    with pytest.raises(EmptyRunError, match=r"source\.schema_filter dropped"):
        await run(cfg)
    assert not out.exists()
