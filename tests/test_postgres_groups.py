"""Small PostgreSQL schemas read several to a round of catalog queries (issue 15).

Grouped output is byte-identical to reading every schema alone, for any ``threads`` and
across databases; a schema that fails in a group fails alone (its neighbours are read one at
a time and succeed), with its own retries; the report has every schema as its own unit; the
server never sees more than ``threads`` connections; cancelling a group's round returns its
connection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from metaingest.config import PostgresSource, WorkflowConfig
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.grouping import plan_groups
from metaingest.connectors.postgres import PostgresConnector
from metaingest.entities import Database, DatabaseSchema
from metaingest.report import Report
from metaingest.workflow import Workflow

from .conftest import PgServer, unique_name
from .faultkit import config_of, pg_databases, pg_execute, pg_side, pg_wait_gone
from .test_postgres_concurrency import Sampler

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

SMALL = 12  # s00 .. s11, two tables each
SCRIPT = (
    """
CREATE SCHEMA a;
CREATE TABLE a.t (id integer PRIMARY KEY, note text DEFAULT 'x');
COMMENT ON TABLE a.t IS 'a table';
CREATE UNIQUE INDEX a_t_lower ON a.t (lower(note));
CREATE VIEW a.v AS SELECT id FROM a.t;
CREATE SCHEMA b;
CREATE TABLE b.t (id integer PRIMARY KEY, a_id integer REFERENCES a.t (id));
CREATE VIEW b.v AS SELECT x.id, y.note FROM b.t AS x JOIN a.t AS y ON y.id = x.a_id;
CREATE MATERIALIZED VIEW b.mv AS SELECT count(*) AS n FROM b.t WITH NO DATA;
CREATE SCHEMA c;
CREATE TABLE c.p (id integer, day date, PRIMARY KEY (id, day)) PARTITION BY RANGE (day);
CREATE TABLE c.p0 PARTITION OF c.p FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE FUNCTION c.f(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS 'SELECT x + 1';
CREATE PROCEDURE c.pr() LANGUAGE sql AS 'SELECT 1';
CREATE SCHEMA d;
CREATE SCHEMA e;
CREATE DOMAIN e.pos AS integer CHECK (VALUE > 0);
CREATE TABLE e.t (id e.pos PRIMARY KEY, tags text[]);
CREATE SCHEMA big;
"""
    # above the default budget (90 tables of 12 columns: 1170): read alone
    + "".join(
        f"CREATE TABLE big.t{i} ({', '.join(f'c{c} integer' for c in range(12))});"
        for i in range(90)
    )
    + "".join(
        f"CREATE SCHEMA s{i:02d}; CREATE TABLE s{i:02d}.t (id integer PRIMARY KEY);"
        f" CREATE TABLE s{i:02d}.u (id integer REFERENCES s{i:02d}.t (id), label text);"
        for i in range(SMALL)
    )
)
SCHEMAS = 7 + SMALL  # public, a, b, c, d, e, big and the small ones


@pytest.fixture(scope="module")
def grouped_dbs(postgres_server: PgServer) -> Iterator[list[str]]:
    """Two databases holding the same schemas."""
    with pg_databases(postgres_server, 2, SCRIPT) as names:
        yield names


class Rounds(PostgresConnector):
    """A PostgresConnector that records the schemas of each round it reads."""

    def __init__(self, source: Any, budget: int | None = None) -> None:
        super().__init__(source)
        if budget is not None:
            self.group_budget = budget
        self.rounds: list[tuple[str, ...]] = []

    async def extract_group(self, units: Sequence[Unit], connection: Any) -> list[SchemaBatch]:
        self.rounds.append(tuple(unit.schema.name for unit in units))
        return await super().extract_group(units, connection)


def make_config(
    server: PgServer, databases: list[str], out: Path, threads: int, **workflow: Any
) -> WorkflowConfig:
    source = server.source(
        None,
        databases=databases,
        threads=threads,
        include_lineage=True,
        include_owners=True,
        application_name=unique_name("mi_app_"),
    )
    return config_of(source, out, **workflow)


async def run_with(config: WorkflowConfig, connector: PostgresConnector) -> Report:
    with anyio.fail_after(60):
        return await Workflow(config, connector=connector).run()


@pytest.mark.parametrize("databases", [1, 2])
async def test_grouped_output_is_byte_identical(
    postgres_server: PgServer, grouped_dbs: list[str], tmp_path: Path, databases: int
) -> None:
    names = grouped_dbs[:databases]
    outputs = {}
    for threads in (1, 3):
        for budget in (None, 0):  # the default budget, and grouping off
            out = tmp_path / f"t{threads}-{budget}.jsonl"
            config = make_config(postgres_server, names, out, threads)
            connector = Rounds(config.source, budget)
            report = await run_with(config, connector)
            assert report.exit_code() == 0, report.issues
            assert report.units_ok == SCHEMAS * databases
            assert sorted(u.fqn for u in report.units) == sorted(
                f"pg.{db}.{s}"
                for db in names
                for s in ["public", "a", "b", "c", "d", "e", "big"]
                + [f"s{i:02d}" for i in range(SMALL)]
            )
            schemas_read = sorted(s for r in connector.rounds for s in r)
            assert len(schemas_read) == SCHEMAS * databases  # each schema in one round
            widest = max(len(r) for r in connector.rounds)
            if budget == 0:
                assert widest == 1
            else:
                assert widest > 1, connector.rounds
                assert ("big",) in connector.rounds  # above the budget: alone
            outputs[(threads, budget)] = out.read_bytes()
    assert len(set(outputs.values())) == 1
    lines = [json.loads(line) for line in outputs[(1, 0)].splitlines()]
    lineage = [line["fqn"] for line in lines if line["kind"] == "table" and line.get("lineage")]
    assert len(lineage) == databases * 3, lineage  # a.v, b.v, b.mv: view lineage was read


class Faulty(Rounds):
    """Fails every query naming schema ``bad`` with ``error``, the first ``times`` times."""

    def __init__(self, source: Any, error: Exception, times: int = 1_000) -> None:
        super().__init__(source)
        self.error = error
        self.times = times
        self.failed = 0

    async def extract_group(self, units: Sequence[Unit], connection: Any) -> list[SchemaBatch]:
        return await super().extract_group(units, _Failing(connection, self))


class _Failing:
    def __init__(self, inner: Any, owner: Faulty) -> None:
        self._inner = inner
        self._owner = owner

    def transaction(self, **kw: Any) -> Any:
        return self._inner.transaction(**kw)

    async def fetch(self, sql: str, *args: Any) -> Any:
        owner = self._owner
        if args and isinstance(args[0], list) and "bad" in args[0] and owner.failed < owner.times:
            owner.failed += 1
            raise owner.error
        return await self._inner.fetch(sql, *args)


@pytest.fixture
def four_schemas(postgres_server: PgServer) -> Iterator[str]:
    """A database of schemas aa, bad, cc and dd (and public), one table each."""
    name = postgres_server.create_database()
    script = "".join(
        f"CREATE SCHEMA {s}; CREATE TABLE {s}.t (id integer PRIMARY KEY);"
        for s in ("aa", "bad", "cc", "dd")
    )
    try:
        anyio.run(pg_execute, postgres_server, name, script)
        yield name
    finally:
        postgres_server.drop_database(name)


async def test_a_failing_schema_fails_alone(
    postgres_server: PgServer, four_schemas: str, tmp_path: Path
) -> None:
    database = four_schemas
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, [database], out, 1, success_threshold=50)
    error = asyncpg.exceptions.InsufficientPrivilegeError("permission denied for schema bad")
    connector = Faulty(config.source, error)
    report = await run_with(config, connector)
    # one round of all five failed; then each schema alone: only "bad" fails, once (permanent)
    assert connector.rounds[0] == ("aa", "bad", "cc", "dd", "public")
    assert sorted(connector.rounds[1:]) == [("aa",), ("bad",), ("cc",), ("dd",), ("public",)]
    assert (report.units_ok, report.units_failed) == (4, 1)
    assert [(i.level, i.fqn) for i in report.issues] == [("error", f"pg.{database}.bad")]
    assert "permission denied for schema bad" in report.issues[0].message
    status = {u.fqn.rsplit(".", 1)[1]: (u.status, u.attempts) for u in report.units}
    assert status == {  # after the group's round, one attempt alone (a permanent error)
        "aa": ("ok", 1), "bad": ("error", 1), "cc": ("ok", 1), "dd": ("ok", 1),
        "public": ("ok", 1),
    }  # fmt: skip
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert sorted(w["name"] for w in written if w["kind"] == "databaseSchema") == [
        "aa", "cc", "dd", "public",
    ]  # fmt: skip


async def test_a_transient_failure_is_retried_alone(
    postgres_server: PgServer, four_schemas: str, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, [four_schemas], out, 1, retries=2)
    # the group's round and the schema's first attempt alone are cancelled (57014)
    error = asyncpg.exceptions.QueryCanceledError("canceling statement due to timeout")
    connector = Faulty(config.source, error, times=2)
    report = await run_with(config, connector)
    assert report.exit_code() == 0, report.issues
    assert connector.failed == 2
    status = {u.fqn.rsplit(".", 1)[1]: (u.status, u.attempts) for u in report.units}
    assert status == {  # after the group's round, alone: "bad" once more, after a backoff
        "aa": ("ok", 1), "bad": ("ok", 2), "cc": ("ok", 1), "dd": ("ok", 1),
        "public": ("ok", 1),
    }  # fmt: skip
    assert connector.rounds.count(("bad",)) == 2


async def test_groups_keep_the_connection_cap(
    postgres_server: PgServer, grouped_dbs: list[str], tmp_path: Path
) -> None:
    config = make_config(postgres_server, grouped_dbs, tmp_path / "out.jsonl", 3)
    connector = Rounds(config.source)
    sampler = Sampler(postgres_server, config.source.application_name)  # type: ignore[union-attr]
    async with anyio.create_task_group() as tg:
        await tg.start(sampler.run)
        try:
            report = await run_with(config, connector)
        finally:
            sampler.done.set()
    assert report.exit_code() == 0, report.issues
    assert max(len(r) for r in connector.rounds) > 1
    assert max(sampler.samples) <= 3
    assert report.peak_connections <= 3


class Hanging(Rounds):
    """A round that starts a query and never finishes it."""

    def __init__(self, source: Any) -> None:
        super().__init__(source)
        self.in_flight = anyio.Event()

    async def extract_group(self, units: Sequence[Unit], connection: Any) -> list[SchemaBatch]:
        if len(units) > 1:
            self.in_flight.set()
            await connection.execute("SELECT pg_sleep(60)")
        return await super().extract_group(units, connection)


async def test_cancelling_a_round_returns_its_connection(
    postgres_server: PgServer, grouped_dbs: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    config = make_config(postgres_server, grouped_dbs[:1], out, 2)
    application_name = config.source.application_name  # type: ignore[union-attr]
    connector = Hanging(config.source)
    workflow = Workflow(config, connector=connector)
    async with pg_side(postgres_server) as side:
        with anyio.move_on_after(60) as scope:  # a safety net; cancelled explicitly below
            async with anyio.create_task_group() as tg:
                tg.start_soon(workflow.run)
                await connector.in_flight.wait()
                scope.cancel()
        assert scope.cancel_called
        remaining = await pg_wait_gone(side, application_name)
    assert remaining == 0
    assert workflow.report.cancelled
    assert not out.exists()


def test_plan_groups_packs_small_schemas_of_one_database() -> None:
    source = PostgresSource(type="postgres", host="127.0.0.1", username="u", threads=1)
    connector = PostgresConnector(source)
    connector.group_budget = 100
    one, two = Database(name="one", service="pg"), Database(name="two", service="pg")
    sizes = {"a": 40, "b": 40, "c": 40, "huge": 500, "d": 10, "e": 10, "unknown": None}
    units = []
    for database, names in ((one, ["a", "b", "c", "huge", "d", "unknown", "e"]), (two, ["a"])):
        for name in names:
            size = sizes[name]
            if size is not None:
                connector._sizes[(database.name, name)] = size
            units.append(Unit(database, DatabaseSchema(name=name, database=database.fqn)))

    def names(groups: list[tuple[Unit, ...]]) -> list[list[str]]:
        return [[f"{u.database.name}.{u.schema.name}" for u in g] for g in groups]

    assert names(plan_groups(connector, units)) == [
        ["one.a", "one.b"],  # 80; with c it would be 120
        ["one.c"],
        ["one.huge"],  # above the budget
        ["one.d"],
        ["one.unknown"],  # no size: alone
        ["one.e"],
        ["two.a"],  # never with another database's schemas
    ]
    # spread over 4 slots: at most 2 (8 units / 4) to a group
    connector.group_budget = 1000
    assert [len(g) for g in plan_groups(connector, units, 4)] == [2, 2, 1, 1, 1, 1]
    connector.group_budget = 0  # off
    assert [len(g) for g in plan_groups(connector, units)] == [1] * 8

    class Wrapped(PostgresConnector):  # wraps extract: every schema must go through it
        async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
            return await super().extract(unit, connection)

    wrapped = Wrapped(source)
    wrapped._sizes.update(connector._sizes)
    assert [len(g) for g in plan_groups(wrapped, units)] == [1] * 8
