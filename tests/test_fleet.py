"""Fleets with the in-process executor: several sources (PostgreSQL databases and MariaDB)
in one run and one sink; a source that fails alone; thresholds; the connection budget."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch
from metaingest.errors import ConfigError
from metaingest.fleet import Fleet
from metaingest.sinks import JsonlSink, RunScope
from metaingest.workflow import Workflow

from .clikit import run_cli
from .conftest import MysqlServer, PgServer, free_port, unique_name
from .fleetkit import Sampler, mysql_catalog, pg_catalog, pg_counter

pytestmark = [pytest.mark.anyio, pytest.mark.postgres, pytest.mark.mysql]


@pytest.fixture(scope="module")
def pg_dbs(postgres_server: PgServer) -> Iterator[list[str]]:
    names: list[str] = []
    try:
        for _ in range(2):
            names.append(pg_catalog(postgres_server, 4, 2))
        yield names
    finally:
        for name in names:
            postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def maria_schemas(mysql_server: MysqlServer) -> Iterator[list[str]]:
    names = mysql_catalog(mysql_server, 3)
    try:
        yield names
    finally:
        mysql_server.drop_schemas(names)


def sources(
    pg: PgServer, pg_dbs: list[str], maria: MysqlServer, maria_schemas: list[str]
) -> list[dict[str, Any]]:
    prefix = maria_schemas[0].rsplit("_", 1)[0]
    return [
        pg.source(pg_dbs[0], service_name="pga", threads=2, application_name=unique_name("mi_a_")),
        pg.source(pg_dbs[1], service_name="pgb", threads=2, application_name=unique_name("mi_b_")),
        maria.source(threads=2, schema_filter={"includes": ["^" + re.escape(prefix)]}),
    ]


def fleet_config(fleet: list[dict[str, Any]], out: Path, **workflow: Any) -> WorkflowConfig:
    data = {"sources": fleet, "sink": {"type": "jsonl", "path": str(out)}, "workflow": workflow}
    return parse_config(data, env={})


async def single(source: dict[str, Any], out: Path) -> bytes:
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out)}}, env={})
    report = await Workflow(config).run()
    assert report.ok, report.issues
    return out.read_bytes()


async def test_a_fleet_writes_each_source_once_into_one_sink(
    postgres_server: PgServer,
    pg_dbs: list[str],
    mysql_server: MysqlServer,
    maria_schemas: list[str],
    tmp_path: Path,
) -> None:
    fleet = sources(postgres_server, pg_dbs, mysql_server, maria_schemas)
    alone = {
        s["service_name"]: await single(s, tmp_path / f"{i}.jsonl") for i, s in enumerate(fleet)
    }
    out = tmp_path / "fleet.jsonl"
    seen: list[Any] = []
    report = await Fleet(fleet_config(fleet, out), observer=seen.append).run()
    assert report.ok and report.published, report.issues
    # the sink orders by service: the file is each source's own output, one after the other
    assert out.read_bytes() == alone["maria"] + alone["pga"] + alone["pgb"]
    assert [(s.service, s.state, s.units_ok) for s in report.sources] == [
        ("pga", "ok", 5),
        ("pgb", "ok", 5),
        ("maria", "ok", 3),
    ]
    assert report.units_total == report.units_ok == 13
    assert report.tables == 2 * 4 * 2 + 3 * 2 and report.views == 2 * 4 + 3
    final = seen[-1]
    assert final.phase == "finished"
    assert [(s[0], s[1], s[2]) for s in final.sources] == [
        ("pga", 5, 5),
        ("pgb", 5, 5),
        ("maria", 3, 3),
    ]


class RecordingSink(JsonlSink):
    """A JSONL sink that also records the scopes it is given (as a stateful sink would)."""

    scopes_per_service = True  # it keeps each service's scope apart

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.scopes: list[RunScope] = []

    async def set_scope(self, scope: RunScope) -> None:
        self.scopes.append(scope)

    async def write(self, batch: SchemaBatch) -> None:
        await super().write(batch)


@pytest.mark.parametrize("threshold", [100.0, 80.0])
async def test_a_source_that_cannot_connect_fails_alone(
    postgres_server: PgServer,
    pg_dbs: list[str],
    mysql_server: MysqlServer,
    maria_schemas: list[str],
    tmp_path: Path,
    threshold: float,
) -> None:
    fleet = sources(postgres_server, pg_dbs, mysql_server, maria_schemas)
    port = free_port()
    fleet.insert(1, {"type": "postgres", "port": port, "service_name": "down", "password": "pw-x1"})
    out = tmp_path / "fleet.jsonl"
    sink = RecordingSink(out)
    report = await Fleet(fleet_config(fleet, out, success_threshold=threshold), sink).run()
    states = {s.service: s.state for s in report.sources}
    assert states == {"pga": "ok", "down": "failed", "pgb": "ok", "maria": "ok"}
    (down,) = [s for s in report.sources if s.service == "down"]
    assert down.error is not None and str(port) in down.error and "pw-x1" not in down.error
    # 13 units delivered + the source that never listed its units: 13 / 14 = 92.9 %
    assert (report.units_total, report.units_ok, report.success_pct) == (14, 13, 92.86)
    if threshold == 100.0:
        assert not report.ok and report.exit_code() == 1
        assert not out.exists() and sink.scopes == []
    else:
        assert report.ok and report.published
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        services = {line["fqn"].split(".")[0] for line in lines}
        assert services == {"pga", "pgb", "maria"}
        # the stateful sink may delete under the sources that were read, never under "down"
        assert sorted(scope.service for scope in sink.scopes) == ["maria", "pga", "pgb"]


async def test_max_connections_caps_the_whole_fleet(
    postgres_server: PgServer, pg_dbs: list[str], tmp_path: Path
) -> None:
    apps = [unique_name("mi_cap_") for _ in range(3)]
    fleet = [
        postgres_server.source(
            pg_dbs[i % 2], service_name=f"s{i}", threads=2, application_name=apps[i]
        )
        for i in range(3)
    ]
    out = tmp_path / "fleet.jsonl"
    sampler = Sampler(pg_counter(postgres_server, apps))
    with sampler.running():
        report = await Fleet(fleet_config(fleet, out, max_connections=3)).run()
    assert report.ok, report.issues
    # at most one source of threads 2 fits in a budget of 3 at a time
    assert sampler.peaks["total"] <= 3
    assert all(1 <= sampler.peaks[app] <= 2 for app in apps), sampler.peaks
    assert report.units_ok == 15


def test_a_fleet_through_the_command_line(
    postgres_server: PgServer, pg_dbs: list[str], tmp_path: Path
) -> None:
    fleet = [
        postgres_server.source(pg_dbs[0], service_name="one"),
        {"type": "postgres", "port": free_port(), "service_name": "two"},
    ]
    out = tmp_path / "fleet.jsonl"
    path = tmp_path / "fleet.yaml"
    doc = {"sources": fleet, "sink": {"type": "jsonl", "path": str(out)}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert run_cli("validate", "-c", str(path)).stdout.strip().endswith("(2 sources, jsonl sink)")
    result = run_cli("ingest", "-c", str(path), "--progress-interval", "60")
    assert result.returncode == 1, result.stderr
    assert "sources (2; the overall success rate decides the exit code):" in result.stdout
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:] if line}
    assert rows["one"][2] == "ok" and rows["two"][2] == "failed"
    assert not out.exists()


def test_threads_override_and_two_keys_are_refused(tmp_path: Path) -> None:
    sink = {"type": "jsonl", "path": str(tmp_path / "o.jsonl")}
    config = parse_config({"sources": [{"type": "postgres"}], "sink": sink}, env={})
    with pytest.raises(Exception, match="--threads: not with sources"):
        config.with_threads(4)
    with pytest.raises(Exception, match="give either source or sources"):
        parse_config(
            {"source": {"type": "mysql"}, "sources": [{"type": "postgres"}], "sink": sink}, env={}
        )
    with pytest.raises(Exception, match=r"sources\[1\].service_name: 'postgres' is used twice"):
        parse_config({"sources": [{"type": "postgres"}, {"type": "postgres"}], "sink": sink})


async def test_a_sink_that_keeps_one_service_is_refused_a_fleet(
    postgres_server: PgServer, pg_dbs: list[str], tmp_path: Path
) -> None:
    """A stateful sink that does not say it keeps services apart (``scopes_per_service``)
    takes one source per run; the catalog store and metadata-rest take fleets
    (test_fleet_stateful)."""

    class OneService(JsonlSink):
        async def set_scope(self, scope: RunScope) -> None:
            pass

    fleet = [
        postgres_server.source(pg_dbs[0], service_name="one"),
        postgres_server.source(pg_dbs[1], service_name="two"),
    ]
    out = tmp_path / "out.jsonl"
    with pytest.raises(ConfigError, match="keeps the state of one service"):
        await Fleet(fleet_config(fleet, out), OneService(out)).run()
    assert not out.exists()
