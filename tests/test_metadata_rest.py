"""The metadata-rest sink against the stand-in OpenMetadata API, from real PostgreSQL and MariaDB.

Every request body the sink sends is validated by the stand-in against the official JSON
Schema of its endpoint (tests/openmetadata_schemas); ``server.invalid`` must stay empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.workflow import Workflow

from .clikit import run_cli
from .conftest import MysqlServer, PgServer, quote_mysql
from .omserver import OMServer
from .wrappers import Delegating

TOKEN = "test-token"

PG_SCRIPT = [
    "CREATE SCHEMA sales",
    "CREATE SCHEMA hr",
    "CREATE TABLE sales.customers (id int PRIMARY KEY, name varchar(80) NOT NULL)",
    "CREATE TABLE sales.orders (id bigint PRIMARY KEY, customer int REFERENCES sales.customers,"
    " total numeric(12,2), placed timestamptz)",
    "CREATE VIEW sales.big_orders AS SELECT * FROM sales.orders WHERE total > 100",
    'CREATE TABLE sales."odd.name" (x text)',
    "COMMENT ON TABLE sales.orders IS 'one row per order'",
    "CREATE TABLE hr.people (id int PRIMARY KEY, boss int REFERENCES hr.people)",
    "CREATE TABLE hr.payroll (person int REFERENCES hr.people, amount money)",
]


@pytest.fixture
def om() -> Iterator[OMServer]:
    with OMServer(token=TOKEN) as server:
        yield server


@pytest.fixture
def pg_catalog(postgres_server: PgServer, pg_database: str) -> str:
    postgres_server.run(pg_database, *PG_SCRIPT)
    return pg_database


def sink(server: OMServer, **extra: Any) -> dict[str, Any]:
    return {
        "type": "metadata-rest",
        "host_port": server.url,
        "jwt_token": TOKEN,
        "retry_backoff": 0.01,
        **extra,
    }


def pg_config(
    pg: PgServer,
    database: str,
    server: OMServer,
    workflow: dict[str, Any] | None = None,
    **extra: Any,
) -> WorkflowConfig:
    return parse_config(
        {
            "source": pg.source(database, threads=2),
            "sink": sink(server, **extra),
            "workflow": {"retry_backoff": 0.05, **(workflow or {})},
        }
    )


async def run(config: WorkflowConfig, connector: Any = None) -> Any:
    with anyio.fail_after(60):
        return await Workflow(config, connector=connector).run()


async def sql(pg: PgServer, database: str, *statements: str) -> None:
    """Run statements from async code (the fixture helper runs its own event loop)."""
    await anyio.to_thread.run_sync(lambda: pg.run(database, *statements))


def versions(server: OMServer, collection: str) -> dict[str, float]:
    return {fqn: e["version"] for fqn, e in server.store.all(collection).items()}


@pytest.mark.anyio
async def test_postgres_catalog_is_accepted_whole_and_a_second_run_changes_nothing(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(postgres_server, pg_catalog, om)
    report = await run(config)
    assert report.ok and report.published and report.errors == 0, report.issues
    assert om.invalid == []
    db = f"pg.{pg_catalog}"
    assert set(om.store.live("services/databaseServices")) == {"pg"}
    assert set(om.store.live("databases")) == {db}
    assert set(om.store.live("databaseSchemas")) == {f"{db}.hr", f"{db}.public", f"{db}.sales"}
    assert set(om.store.live("tables")) == {
        f"{db}.sales.customers",
        f"{db}.sales.orders",
        f"{db}.sales.big_orders",
        f'{db}.sales."odd.name"',
        f"{db}.hr.people",
        f"{db}.hr.payroll",
    }
    orders = om.store.live("tables")[f"{db}.sales.orders"]
    assert orders["description"] == "one row per order"
    assert om.store.live("tables")[f"{db}.sales.big_orders"]["tableType"] == "View"
    # one PUT per entity on the hot path (and, with include_lineage, one per view and
    # upstream relation at commit)
    puts = sum(n for (method, _), n in om.requests.items() if method == "PUT")
    assert puts == 1 + 1 + 3 + 6
    assert om.requests[("GET", "version")] == 1
    assert set(versions(om, "tables").values()) == {0.1}

    before = {c: versions(om, c) for c in ("databases", "databaseSchemas", "tables")}
    report = await run(config)
    assert report.ok and report.errors == 0
    assert {c: versions(om, c) for c in before} == before  # unchanged: no version moved
    assert om.invalid == []

    await sql(postgres_server, pg_catalog, "COMMENT ON TABLE sales.orders IS 'changed'")
    await run(config)
    assert versions(om, "tables")[f"{db}.sales.orders"] == 0.2
    assert versions(om, "tables")[f"{db}.sales.customers"] == 0.1


@pytest.mark.anyio
async def test_dropped_tables_are_soft_deleted_and_come_back_restored(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(postgres_server, pg_catalog, om, workflow={"delete_threshold": 50})
    await run(config)
    db = f"pg.{pg_catalog}"
    await sql(postgres_server, pg_catalog, "DROP TABLE hr.payroll")
    report = await run(config)
    assert report.ok and report.published
    live = om.store.live("tables")
    assert f"{db}.hr.payroll" not in live and f"{db}.hr.people" in live
    gone = om.store.all("tables")[f"{db}.hr.payroll"]
    assert gone["deleted"] is True and gone["version"] == 0.2
    assert om.requests[("DELETE", "delete table")] == 1
    # a table that reappears is restored by its PUT (OpenMetadata's create-or-update)
    await sql(postgres_server, pg_catalog, "CREATE TABLE hr.payroll (person int, amount money)")
    await run(config)
    assert f"{db}.hr.payroll" in om.store.live("tables")


@pytest.mark.anyio
async def test_mark_deleted_tables_false_deletes_nothing(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(
        postgres_server,
        pg_catalog,
        om,
        workflow={"delete_threshold": 50},
        mark_deleted_tables=False,
    )
    await run(config)
    await sql(postgres_server, pg_catalog, "DROP TABLE hr.payroll")
    await run(config)
    assert f"pg.{pg_catalog}.hr.payroll" in om.store.live("tables")
    assert om.requests[("GET", "list table")] == 0
    assert om.requests[("GET", "list storedProcedure")] == 6  # 3 schemas, 2 runs
    # a source that does not read stored procedures has none to delete: no listing either
    no_procedures = parse_config(
        {
            "source": postgres_server.source(pg_catalog, include_stored_procedures=False),
            "sink": sink(om, mark_deleted_tables=False),
        }
    )
    await run(no_procedures)
    assert om.requests[("GET", "list storedProcedure")] == 6


class FailingSchema(Delegating):
    """Delegates to the real connector; one schema's extract always fails."""

    def __init__(self, config: WorkflowConfig, schema: str) -> None:
        from metaingest.connectors import create_connector

        super().__init__(create_connector(config.source))
        self.schema = schema

    async def extract(self, unit: Any, connection: Any) -> Any:
        if unit.schema.name == self.schema:
            raise ValueError(f"boom in {self.schema}")
        return await self.inner.extract(unit, connection)


@pytest.mark.anyio
async def test_a_failed_schema_deletes_nothing_and_a_failed_run_deletes_nothing(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(
        postgres_server,
        pg_catalog,
        om,
        workflow={"success_threshold": 50, "allow_mass_delete": True, "retries": 0},
    )
    await run(config)
    db = f"pg.{pg_catalog}"
    await sql(postgres_server, pg_catalog, "DROP TABLE hr.payroll", "DROP VIEW sales.big_orders")
    report = await run(config, FailingSchema(config, "hr"))
    assert report.published and report.units_failed == 1
    live = om.store.live("tables")
    assert f"{db}.hr.payroll" in live  # its schema failed: nothing under it is touched
    assert f"{db}.sales.big_orders" not in live  # read whole: deleted
    # below the threshold: the run is not committed, nothing is deleted at all
    strict = pg_config(postgres_server, pg_catalog, om, workflow={"retries": 0})
    await sql(postgres_server, pg_catalog, "DROP TABLE sales.customers CASCADE")
    report = await run(strict, FailingSchema(strict, "hr"))
    assert not report.published
    assert f"{db}.sales.customers" in om.store.live("tables")


@pytest.mark.anyio
async def test_mass_deletion_is_withheld(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(postgres_server, pg_catalog, om)
    await run(config)
    db = f"pg.{pg_catalog}"
    await sql(postgres_server, pg_catalog, "DROP TABLE sales.customers, sales.orders CASCADE")
    report = await run(config)  # 3 of 6 live tables gone: over the 20 % default
    assert f"{db}.sales.customers" in om.store.live("tables")
    assert [i.fqn for i in report.issues if "delete_threshold 20 %" in i.message] == ["pg"]
    # a schema whose listing is empty now deletes nothing under it (a warning instead)
    await sql(postgres_server, pg_catalog, "DROP SCHEMA hr CASCADE", "CREATE SCHEMA hr")
    config = pg_config(postgres_server, pg_catalog, om, workflow={"allow_mass_delete": True})
    report = await run(config)
    assert f"{db}.hr.people" in om.store.live("tables")
    assert any(i.fqn == f"{db}.hr" and "none now" in i.message for i in report.issues)
    assert f"{db}.sales.customers" not in om.store.live("tables")  # allowed now
    assert om.requests[("DELETE", "delete table")] == 3


@pytest.mark.anyio
async def test_faults_are_absorbed_by_retries(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(postgres_server, pg_catalog, om, concurrency=2)
    om.inject("429", 3, method="PUT", every=2)
    om.inject("503", 2, method="PUT", every=3)
    om.inject("drop", 2, method="PUT", every=2)
    om.latency = 0.002
    report = await run(config)
    assert report.ok and report.errors == 0, report.issues
    assert len(om.store.live("tables")) == 6
    assert om.requests[("PUT", "fault")] == 7


@pytest.mark.anyio
async def test_a_refused_entity_is_an_issue_with_its_fqn_not_a_crash(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    db = f"pg.{pg_catalog}"
    om.reject(f"{db}.sales.orders")
    config = pg_config(postgres_server, pg_catalog, om, workflow={"success_threshold": 50})
    report = await run(config)
    refused = [i for i in report.issues if i.level == "error"]
    assert [i.fqn for i in refused] == [f"{db}.sales.orders"]
    assert "400" in refused[0].message and "rejected by the stand-in" in refused[0].message
    assert len(om.store.live("tables")) == 5
    assert report.units_partial == 1 and report.published


@pytest.mark.anyio
async def test_mariadb_catalog_is_accepted_whole(mysql_server: MysqlServer, om: OMServer) -> None:
    names = mysql_server.create_schemas(2)
    try:
        a, b = (quote_mysql(n) for n in names)
        mysql_server.run(
            f"CREATE TABLE {a}.t1 (id INT PRIMARY KEY, v VARCHAR(10))",
            f"CREATE TABLE {a}.t2 (id INT, t1 INT, FOREIGN KEY (t1) REFERENCES {a}.t1(id))",
            f"CREATE VIEW {b}.v AS SELECT 1 AS one",
        )
        config = parse_config(
            {
                "source": mysql_server.source(
                    type="mariadb", schema_filter={"includes": [f"^{names[0][:-2]}"]}
                ),
                "sink": sink(om),
                "workflow": {"delete_threshold": 50},
            }
        )
        report = await run(config)
        assert report.ok and report.errors == 0, report.issues
        assert om.invalid == []
        assert set(om.store.live("tables")) == {
            f"maria.default.{names[0]}.t1",
            f"maria.default.{names[0]}.t2",
            f"maria.default.{names[1]}.v",
        }
        assert om.store.live("services/databaseServices")["maria"]["serviceType"] == "MariaDB"
        before = versions(om, "tables")
        mysql_server.run(f"DROP TABLE {a}.t2")
        await run(config)
        assert (
            versions(om, "tables")[f"maria.default.{names[0]}.t1"]
            == before[f"maria.default.{names[0]}.t1"]
        )
        assert om.store.all("tables")[f"maria.default.{names[0]}.t2"]["deleted"] is True
    finally:
        mysql_server.drop_schemas(names)


def om_file(tmp_path: Path, pg: PgServer, database: str, host_port: str, token: str) -> Path:
    import yaml

    doc = {
        "source": {
            "type": "postgres",
            "serviceName": "pg_om",
            "serviceConnection": {
                "config": {
                    "type": "Postgres",
                    "username": pg.user,
                    "hostPort": f"{pg.host}:{pg.port}",
                    "database": database,
                }
            },
            "sourceConfig": {"config": {"type": "DatabaseMetadata", "threads": 2}},
        },
        "sink": {"type": "metadata-rest", "config": {}},
        "workflowConfig": {
            "openMetadataServerConfig": {
                "hostPort": host_port,
                "authProvider": "openmetadata",
                "securityConfig": {"jwtToken": token},
            }
        },
    }
    path = tmp_path / "om.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def test_the_openmetadata_file_runs_unchanged_from_the_cli(
    postgres_server: PgServer, pg_catalog: str, om: OMServer, tmp_path: Path
) -> None:
    path = om_file(tmp_path, postgres_server, pg_catalog, om.url, TOKEN)
    result = run_cli("ingest", "-c", str(path), "-q")
    assert result.returncode == 0, result.stderr
    assert len(om.store.live("tables")) == 6 and om.invalid == []
    result = run_cli("ingest", "-c", str(path), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "sales" in result.stdout
    result = run_cli("test-connection", "-c", str(path))
    assert result.returncode == 0, result.stderr


def test_bad_token_or_url_is_exit_2_in_one_line_before_extraction(
    postgres_server: PgServer, pg_catalog: str, om: OMServer, tmp_path: Path
) -> None:
    from .conftest import free_port

    cases = {
        "wrong-token": (om.url, "metaingest: error: sink.jwt_token: the server refused the token"),
        "refused": (
            f"http://127.0.0.1:{free_port()}/api",
            "metaingest: error: sink.host_port http://127.0.0.1:",
        ),
        "not-api": (om.url[: -len("/api")], "not an OpenMetadata API"),
    }
    # the source is unreachable too: the sink's check comes first, before the source is touched
    unreachable = PgServer(port=free_port())
    for token_or_case, (url, expected) in cases.items():
        token = "nope" if token_or_case == "wrong-token" else TOKEN
        path = om_file(tmp_path, unreachable, pg_catalog, url, token)
        result = run_cli("ingest", "-c", str(path), "-q")
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], lines
        assert "nope" not in result.stderr
    assert om.store.live("tables") == {}  # nothing was written


@pytest.mark.anyio
async def test_mark_deleted_schemas_soft_deletes_a_dropped_schema_with_its_tables(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(
        postgres_server,
        pg_catalog,
        om,
        workflow={"allow_mass_delete": True},
        mark_deleted_schemas=True,
    )
    await run(config)
    db = f"pg.{pg_catalog}"
    await sql(postgres_server, pg_catalog, "DROP SCHEMA hr CASCADE")
    report = await run(config)
    assert report.published
    assert set(om.store.live("databaseSchemas")) == {f"{db}.public", f"{db}.sales"}
    assert f"{db}.hr.people" not in om.store.live("tables")
    assert om.store.all("databaseSchemas")[f"{db}.hr"]["deleted"] is True
    assert f"{db}.sales.orders" in om.store.live("tables")


@pytest.mark.anyio
async def test_a_filtered_schema_is_out_of_scope_not_deleted(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    config = pg_config(postgres_server, pg_catalog, om, workflow={"allow_mass_delete": True})
    await run(config)
    narrowed = parse_config(
        {
            "source": postgres_server.source(
                pg_catalog, schema_filter={"includes": ["^(public|sales)$"]}
            ),
            "sink": sink(om, mark_deleted_schemas=True),
            "workflow": {"allow_mass_delete": True},
        }
    )
    report = await run(narrowed)
    assert report.published
    db = f"pg.{pg_catalog}"
    assert {f"{db}.hr.people", f"{db}.hr.payroll"} <= set(om.store.live("tables"))
    assert f"{db}.hr" in om.store.live("databaseSchemas")
    assert sum(n for (method, _), n in om.requests.items() if method == "DELETE") == 0


@pytest.mark.anyio
async def test_view_lineage_is_sent_with_ids_and_outside_upstreams_are_looked_up(
    postgres_server: PgServer, pg_catalog: str, om: OMServer
) -> None:
    await sql(
        postgres_server,
        pg_catalog,
        "CREATE VIEW sales.staff AS SELECT p.id, p.boss AS manager FROM hr.people p",
    )
    db = f"pg.{pg_catalog}"
    only_sales = pg_config(postgres_server, pg_catalog, om)
    data = only_sales.model_dump(mode="python")
    data["source"]["include_lineage"] = True
    every = parse_config(data)
    data["source"]["schema_filter"] = {"includes": ["^sales$"]}
    only_sales = parse_config(data)

    # hr is not on the server yet: that edge is a warning, never a guessed one
    report = await run(only_sales)
    assert report.published and om.invalid == []
    assert any(
        i.fqn == f"{db}.sales.staff" and "is not on the OpenMetadata server" in i.message
        for i in report.issues
    )
    tables = om.store.live("tables")
    edges = {
        (om.store.by_id[a].fqn, om.store.by_id[b].fqn): details
        for (a, b), details in om.store.lineage.items()
    }
    assert set(edges) == {(f"{db}.sales.orders", f"{db}.sales.big_orders")}
    details = edges[(f"{db}.sales.orders", f"{db}.sales.big_orders")]
    assert details["source"] == "ViewLineage"
    assert {c["toColumn"] for c in details["columnsLineage"]} == {
        f"{db}.sales.big_orders.{c}" for c in ("id", "customer", "total", "placed")
    }

    # every schema once; then sales alone finds hr.people on the server by its name
    await run(every)
    om.store.lineage.clear()
    report = await run(only_sales)
    assert not any("not on the OpenMetadata server" in i.message for i in report.issues)
    edges = {(om.store.by_id[a].fqn, om.store.by_id[b].fqn) for a, b in om.store.lineage}
    assert (f"{db}.hr.people", f"{db}.sales.staff") in edges
    assert om.requests[("GET", "get table")] >= 1
    assert tables  # the first run's tables stayed live
