"""A fleet into the stateful sinks (catalog store, metadata-rest): one scope per service.

Two PostgreSQL databases and MariaDB schemas as three sources. After a first run of all
three, one table is dropped in each of two sources and the third source cannot connect: the
run is published for the two (their dropped tables deleted), and nothing of the third's
service is deleted or even marked missing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import parse_config
from metaingest.fleet import Fleet
from metaingest.store import open_store

from .conftest import MysqlServer, PgServer, free_port
from .faultkit import pg_execute
from .fleetkit import mysql_catalog, pg_catalog
from .omserver import OMServer
from .storekit import sqlite_url

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.mysql]

TOKEN = "fleet-token"


@dataclass
class Catalogs:
    """Each test's own sources: two PostgreSQL databases and two MariaDB schemas."""

    pg: list[str]
    maria: list[str]

    def sources(self, pg: PgServer, maria: MysqlServer, *, down: bool) -> list[dict[str, Any]]:
        """pga, pgb, maria; with ``down``, pgb points at a port nothing listens on."""
        prefix = self.maria[0].rsplit("_", 1)[0]
        pgb = pg.source(self.pg[1], service_name="pgb", threads=2)
        if down:
            pgb["port"] = free_port()
        return [
            pg.source(self.pg[0], service_name="pga", threads=2),
            pgb,
            maria.source(threads=2, schema_filter={"includes": ["^" + re.escape(prefix)]}),
        ]

    async def drop_one_table_each(self, pg: PgServer, maria: MysqlServer) -> tuple[str, str]:
        """Drop a table in pga's and maria's catalogs; their FQNs."""
        await pg_execute(pg, self.pg[0], "DROP TABLE s01.t1")
        maria.run(f"DROP TABLE `{self.maria[1]}`.child")
        return f"pga.{self.pg[0]}.s01.t1", f"maria.default.{self.maria[1]}.child"


@pytest.fixture
def catalogs(postgres_server: PgServer, mysql_server: MysqlServer) -> Iterator[Catalogs]:
    pg: list[str] = []
    maria: list[str] = []
    try:
        pg += [pg_catalog(postgres_server, 2, 2) for _ in range(2)]
        maria += mysql_catalog(mysql_server, 2)
        yield Catalogs(pg, maria)
    finally:
        for name in pg:
            postgres_server.drop_database(name)
        mysql_server.drop_schemas(maria)


def fleet(sources: list[dict[str, Any]], sink: dict[str, Any]) -> Fleet:
    # 8 of 9 units when pgb cannot connect (it counts as one failed unit): 88.9 % >= 80 %
    workflow = {"success_threshold": 80, "retries": 0, "retry_backoff": 0.05}
    return Fleet(parse_config({"sources": sources, "sink": sink, "workflow": workflow}, env={}))


async def test_a_fleet_publishes_into_the_store_per_service(
    postgres_server: PgServer, mysql_server: MysqlServer, catalogs: Catalogs, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "catalog.db")
    sink = {"type": "catalog", "url": url}
    with anyio.fail_after(90):
        first = await fleet(catalogs.sources(postgres_server, mysql_server, down=False), sink).run()
    assert first.ok and first.published, first.issues
    async with await open_store(url) as store:
        before = {e.fqn: e for e in await store.entities()}
        (run1,) = await store.runs()
    assert {fqn.split(".")[0] for fqn in before} == {"pga", "pgb", "maria"}
    assert run1.service == "maria, pga, pgb"
    pgb_before = {fqn: e for fqn, e in before.items() if fqn.startswith("pgb.")}

    pga_gone, maria_gone = await catalogs.drop_one_table_each(postgres_server, mysql_server)
    sources = catalogs.sources(postgres_server, mysql_server, down=True)
    with anyio.fail_after(90):
        second = await fleet(sources, sink).run()
    assert second.ok and second.published, second.issues
    assert {s.service: s.state for s in second.sources} == {
        "pga": "ok",
        "pgb": "failed",
        "maria": "ok",
    }
    async with await open_store(url) as store:
        after = {e.fqn: e for e in await store.entities(deleted=True)}
        run2, _ = await store.runs()
        changes = await store.changes()
    # the two sources that were read: their dropped tables are deleted by this run
    assert after[pga_gone].deleted_run == run2.id and after[maria_gone].deleted_run == run2.id
    assert {(c.fqn, c.change) for c in changes} == {(pga_gone, "deleted"), (maria_gone, "deleted")}
    # the source that could not connect: every entity of its service as it was, still live,
    # last seen in the first run (this run did not read it)
    pgb_after = {fqn: e for fqn, e in after.items() if fqn.startswith("pgb.")}
    assert pgb_after == pgb_before
    assert all(e.deleted_run is None and e.last_seen_run == run1.id for e in pgb_after.values())
    # the run is recorded once, for the services it published, with their units only
    assert run2.status == "published" and run2.service == "maria, pga"
    units = {fqn.split(".")[0] for fqns in run2.units.values() for fqn in fqns}
    assert units == {"maria", "pga"} and len(run2.units["complete"]) == 3 + 2
    # the others are last seen in this run
    assert after[f"pga.{catalogs.pg[0]}.s00.t0"].last_seen_run == run2.id


async def test_a_fleet_deletes_on_the_openmetadata_server_per_service(
    postgres_server: PgServer, mysql_server: MysqlServer, catalogs: Catalogs
) -> None:
    with OMServer(token=TOKEN) as om:
        sink = {"type": "metadata-rest", "host_port": om.url, "jwt_token": TOKEN}
        sources = catalogs.sources(postgres_server, mysql_server, down=False)
        with anyio.fail_after(90):
            first = await fleet(sources, sink).run()
        assert first.ok and first.published, first.issues
        assert set(om.store.live("services/databaseServices")) == {"pga", "pgb", "maria"}
        types = {
            name: entity["serviceType"]
            for name, entity in om.store.live("services/databaseServices").items()
        }
        assert types == {"pga": "Postgres", "pgb": "Postgres", "maria": "Mysql"}
        pgb_before = {f for f in om.store.live("tables") if f.startswith("pgb.")}
        assert len(pgb_before) == 2 * 3  # 2 schemas of 2 tables and a view

        pga_gone, maria_gone = await catalogs.drop_one_table_each(postgres_server, mysql_server)
        sources = catalogs.sources(postgres_server, mysql_server, down=True)
        with anyio.fail_after(90):
            second = await fleet(sources, sink).run()
        assert second.ok and second.published, second.issues
        assert om.invalid == []
        tables = om.store.all("tables")
        assert tables[pga_gone]["deleted"] is True and tables[maria_gone]["deleted"] is True
        deleted = {fqn for fqn, table in tables.items() if table["deleted"]}
        assert deleted == {pga_gone, maria_gone}
        # nothing of the service whose source could not connect is deleted
        assert {f for f in om.store.live("tables") if f.startswith("pgb.")} == pgb_before
        assert "pgb" in om.store.live("services/databaseServices")
