"""The host's event loop gets its turns while a large schema is built, serialized and freed.

No timing is asserted: a ticker task counts how often it ran while the work went on. With
``SLICE_SECONDS = 0`` every checkpoint yields, so the count is known exactly; with the
default slice it is only known to be more than one for work far longer than a slice.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import asyncpg
import pytest

from metaingest import cooperative
from metaingest.config import parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.mysql import MysqlConnector, ServerInfo, _Builder, _fetch
from metaingest.connectors.postgres import (
    READ_SIZE,
    PostgresConnector,
    _group_columns,
    build_tables,
)
from metaingest.connectors.sql import queries
from metaingest.entities import Database, DatabaseSchema, Table
from metaingest.sinks.jsonl import JsonlSink
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, quote_mysql
from .faultkit import pg_execute

T = TypeVar("T")

BIG_TABLES = 400
MYSQL_TABLES = 60


async def ticks_during(work: Callable[[], Awaitable[T]]) -> tuple[T, int]:
    """Run ``work`` beside a task that counts its own turns; return (result, turns)."""
    turns = 0

    async def ticker() -> None:
        nonlocal turns
        while True:
            await anyio.lowlevel.checkpoint()
            turns += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await anyio.lowlevel.checkpoint()  # the ticker is in its loop
        turns = 0
        result = await work()
        tg.cancel_scope.cancel()
    return result, turns


@pytest.fixture
def every_checkpoint_yields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cooperative, "SLICE_SECONDS", 0.0)


def big_schema_script(tables: int) -> list[str]:
    """A schema ``big`` of ``tables`` tables of 12 columns (keys, FKs, comments) and views."""
    out = ["CREATE SCHEMA big", "CREATE SCHEMA small", "CREATE TABLE small.one (id int)"]
    for i in range(tables):
        columns = ", ".join(f"c{j} {('text', 'int', 'numeric(9,2)')[j % 3]}" for j in range(11))
        fk = f", parent int REFERENCES big.t{i - 1:04d} (id)" if i else ""
        out.append(f"CREATE TABLE big.t{i:04d} (id int PRIMARY KEY, {columns}{fk})")
        if i % 3 == 0:
            out.append(f"COMMENT ON TABLE big.t{i:04d} IS 'table {i}'")
    out.append("CREATE VIEW big.v_first AS SELECT id, c0 FROM big.t0000")
    out.append("CREATE VIEW big.v_last AS SELECT id FROM big.t0399")
    return out


@pytest.fixture(scope="module")
def big_db(postgres_server: PgServer) -> Iterator[str]:
    """A database whose schema ``big`` has 400 tables, ``small`` one."""
    name = postgres_server.create_database()
    statements = big_schema_script(BIG_TABLES)
    try:
        for start in range(0, len(statements), 100):  # keeps each transaction's locks small
            script = ";\n".join(statements[start : start + 100])
            anyio.run(pg_execute, postgres_server, name, script)
        yield name
    finally:
        postgres_server.drop_database(name)


def pg_config(server: PgServer, database: str, out: Path, threads: int) -> Any:
    source = server.source(database, threads=threads, schema_filter={"includes": ["^(big|small)$"]})
    return parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out)}})


@pytest.mark.postgres
@pytest.mark.anyio
async def test_large_schema_output_is_the_same_for_threads_1_and_4(
    postgres_server: PgServer, big_db: str, tmp_path: Path
) -> None:
    outputs = []
    for threads in (1, 4):
        out = tmp_path / f"threads{threads}.jsonl"
        report = await Workflow(pg_config(postgres_server, big_db, out, threads)).run()
        assert report.ok, report.issues
        assert (report.tables, report.views) == (BIG_TABLES + 1, 2)
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.postgres
@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_building_a_large_postgres_schema_yields_once_per_table(
    postgres_server: PgServer, big_db: str
) -> None:
    sql = queries("postgres")
    conn = await asyncpg.connect(
        host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
        database=big_db,
    )  # fmt: skip
    try:
        names = ("relations", "columns", "constraints")
        rows = [await conn.fetch(sql[name], ["big"]) for name in names]
    finally:
        await conn.close()
    database = Database(name=big_db, service="pg")
    schema = DatabaseSchema(name="big", database=database.fqn)

    async def build() -> Any:
        return await build_tables("pg", big_db, schema, *rows)

    (tables, issues), turns = await ticks_during(build)
    assert not issues
    assert len(tables) == BIG_TABLES + 2
    assert turns >= BIG_TABLES  # a turn for the host at (at least) every table
    assert rows[1] == [] and rows[2] == []  # the column and constraint rows were consumed


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_column_rows_are_kept_as_untracked_tuples(
    postgres_server: PgServer, big_db: str
) -> None:
    """The driver's records are tracked by the garbage collector; the tuples that replace
    them while a schema is built are not, after their first collection."""
    conn = await asyncpg.connect(
        host=postgres_server.host, port=postgres_server.port, user=postgres_server.user,
        database=big_db,
    )  # fmt: skip
    try:
        rows = await conn.fetch(queries("postgres")["columns"], ["big"])
    finally:
        await conn.close()
    count = len(rows)
    assert count > BIG_TABLES * 12 and all(gc.is_tracked(row) for row in rows)
    grouped = await _group_columns(rows)
    assert rows == []
    kept = [row for table in grouped.values() for row in table]
    assert len(kept) == count and all(type(row) is tuple for row in kept)
    gc.collect()
    assert not any(gc.is_tracked(row) for row in kept)


@pytest.mark.postgres
@pytest.mark.anyio
async def test_postgres_reads_hand_the_driver_at_most_read_size_bytes(
    postgres_server: PgServer, big_db: str
) -> None:
    """asyncpg decodes every row of a socket read in one callback: the connector's
    connections read at most ``READ_SIZE`` bytes at a time, so a large result is decoded
    over many loop passes and the host's tasks run between them. The host here is busy
    (each of its turns holds the thread 1 ms), so the rows pile up in the socket between
    two reads: without the cap a read would take up to 256 KiB of them at once."""
    sink = {"type": "jsonl", "path": "unused.jsonl"}
    config = parse_config({"source": postgres_server.source(big_db), "sink": sink})
    connector = PostgresConnector(config.source)
    rows_wanted = 2048
    payload = rows_wanted * 1024  # bytes of row values alone
    turns = 0

    async def busy_host() -> None:
        nonlocal turns
        while True:
            await anyio.lowlevel.checkpoint()
            time.sleep(0.001)  # noqa: ASYNC251  # the busy host, on purpose
            turns += 1

    database = Database(name=big_db, service="pg")
    async with (
        connector,
        anyio.create_task_group() as tg,
        connector.connection(database) as conn,
    ):
        assert conn._transport.max_size == READ_SIZE
        tg.start_soon(busy_host)
        await anyio.lowlevel.checkpoint()
        turns = 0
        rows = await conn.fetch(
            "SELECT repeat('x', 1024) FROM generate_series(1, $1::int)", rows_wanted
        )
        tg.cancel_scope.cancel()
    assert len(rows) == rows_wanted
    assert turns >= payload // READ_SIZE - 1  # at least one host turn per read


@pytest.fixture(scope="module")
def mysql_big(mysql_server: MysqlServer) -> Iterator[str]:
    """A MySQL schema of 60 tables of 12 columns: more rows than one unbuffered chunk."""
    (name,) = mysql_server.create_schemas(1)
    quoted = quote_mysql(name)
    columns = ", ".join(f"c{j} varchar(20) COMMENT 'column {j}'" for j in range(11))
    try:
        mysql_server.run(
            *(
                f"CREATE TABLE {quoted}.t{i:03d} (id int PRIMARY KEY, {columns})"
                for i in range(MYSQL_TABLES)
            )
        )
        yield name
    finally:
        mysql_server.drop_schemas([name])


@pytest.mark.mysql
@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_mysql_rows_come_in_chunks_and_building_yields(
    mysql_server: MysqlServer, mysql_big: str
) -> None:
    config = parse_config({"source": mysql_server.source(), "sink": {"type": "jsonl", "path": "x"}})
    database = Database(name="default", service="maria")
    unit = Unit(database, DatabaseSchema(name=mysql_big, database=database.fqn))
    async with MysqlConnector(config.source) as connector, connector.connection(database) as conn:
        fetched, fetch_turns = await ticks_during(lambda: _fetch(conn, "columns", mysql_big))
        assert len(fetched) == MYSQL_TABLES * 12
        assert fetch_turns >= len(fetched) // 256  # a turn between chunks of rows
        rows = {name: await _fetch(conn, name, mysql_big) for name in ("tables", "views")}
        rows |= {name: [] for name in ("constraints", "key_columns")}
        rows["columns"] = fetched
        server = ServerInfo.parse(conn.get_server_info())
    builder = _Builder("maria", unit, server)
    tables, turns = await ticks_during(lambda: builder.tables(rows))
    assert [t.name for t in tables] == [f"t{i:03d}" for i in range(MYSQL_TABLES)]
    assert all(len(t.columns) == 12 for t in tables)
    assert turns >= MYSQL_TABLES


def synthetic_batch(tables: int) -> SchemaBatch:
    database = Database(name="db", service="svc")
    schema = DatabaseSchema(name="s", database=database.fqn)
    columns = [
        {"name": f"c{j}", "ordinal_position": j + 1, "data_type": "VARCHAR",
         "data_type_display": "varchar(20)", "data_length": 20, "description": f"column {j}"}
        for j in range(12)
    ]  # fmt: skip
    built = tuple(
        Table.model_validate(
            {"name": f"t{i:05d}", "database_schema": schema.fqn, "columns": columns}
        )
        for i in range(tables)
    )
    return SchemaBatch(database, schema, built, ())


@pytest.mark.anyio
async def test_serializing_a_large_schema_yields_with_the_default_slice(tmp_path: Path) -> None:
    """3,000 tables take far longer than one 5 ms slice to serialize (no time is asserted)."""
    batch = synthetic_batch(3000)
    sink = JsonlSink(tmp_path / "out.jsonl")
    _, turns = await ticks_during(lambda: sink.write(batch))
    await sink.aclose(commit=True)
    assert turns > 1
    lines = (tmp_path / "out.jsonl").read_bytes().splitlines()
    assert len(lines) == 1 + 1 + 3000  # database, schema, tables


@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_release_empties_the_list_in_slices() -> None:
    items: list[Any] = [object() for _ in range(100)]
    _, turns = await ticks_during(lambda: cooperative.release(items, size=10))
    assert items == []
    assert turns >= 10


@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_chunks_gives_every_item_in_order() -> None:
    seen: list[int] = []
    async for chunk in cooperative.chunks(list(range(10)), size=4):
        seen.append(len(chunk))
    assert seen == [4, 4, 2]


@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_sort_sorts_in_slices() -> None:
    items = [(i * 7919) % 10007 for i in range(5000)]
    result, turns = await ticks_during(lambda: cooperative.sort(items, key=lambda x: -x, size=100))
    assert result == sorted(items, key=lambda x: -x)
    assert turns >= 50  # a turn between runs of 100


@pytest.mark.anyio
@pytest.mark.parametrize("size", [1, 2, 3, 7, 1024])
async def test_sort_is_sorted_for_input_in_order_but_for_one_pair(size: int) -> None:
    for n in range(2, 30):
        for i in range(n - 1):
            items = [(k // 2, k) for k in range(n)]  # ties on the key: the sort is stable
            items[i], items[i + 1] = items[i + 1], items[i]
            expected = sorted(items, key=lambda item: item[0])
            assert await cooperative.sort(items, key=lambda item: item[0], size=size) == expected


@pytest.mark.anyio
async def test_checkpoint_returns_at_once_within_its_slice(monkeypatch: pytest.MonkeyPatch) -> None:
    """Within a slice nothing yields: the ticker gets no turn from 1,000 checkpoints."""
    monkeypatch.setattr(cooperative, "SLICE_SECONDS", 3600.0)
    monkeypatch.setattr(cooperative._slice, "deadline", 0.0)  # restored after the test
    await cooperative.checkpoint()  # starts a slice of an hour

    async def many() -> None:
        for _ in range(1000):
            await cooperative.checkpoint()

    _, turns = await ticks_during(many)
    assert turns == 0


@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_a_cancelled_caller_stops_at_the_next_checkpoint() -> None:
    batch = synthetic_batch(50)
    reached = False
    with anyio.CancelScope() as scope:
        scope.cancel()
        await JsonlSink("unused.jsonl").write(batch)
        reached = True
    assert not reached


@pytest.mark.anyio
@pytest.mark.usefixtures("every_checkpoint_yields")
async def test_the_loop_turns_between_any_two_slices() -> None:
    """Three tasks doing sliced work: a plain task, queued once per turn of the loop, counts
    the turns; no two slices (of the same task or different ones) begin in the same turn."""
    turns = 0
    starts: list[tuple[str, int]] = []

    async def ticker() -> None:
        nonlocal turns
        while True:
            await anyio.lowlevel.checkpoint()
            turns += 1

    async def worker(name: str) -> None:
        for _ in range(20):
            await cooperative.checkpoint()
            starts.append((name, turns))  # a slice begins

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        async with anyio.create_task_group() as workers:
            for name in "abc":
                workers.start_soon(worker, name)
        tg.cancel_scope.cancel()
    assert len(starts) == 60
    at_turn = [turn for _, turn in starts]
    assert len(set(at_turn)) == len(at_turn), at_turn  # one slice per turn at most
    # the tasks take turns: none has two slices in a row while another one waits
    names = [name for name, _ in starts]
    assert all(names[i] != names[i + 1] for i in range(len(names) - 3)), names
