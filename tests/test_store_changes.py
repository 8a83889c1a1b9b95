"""The catalog store records exactly what changed between runs of a real PostgreSQL source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from metaingest.store import open_store

from .conftest import PgServer
from .faultkit import pg_execute, run
from .storekit import (
    changes_of,
    field_names,
    pg_store_database,
    pg_url,
    sqlite_url,
    store_config,
    summary,
)

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

FIRST = """
CREATE SCHEMA s1;
CREATE SCHEMA s2;
CREATE TABLE s1.t_alter (
    id integer PRIMARY KEY, name varchar(40) NOT NULL, note text DEFAULT 'x', c integer,
    amount numeric(12, 4)
);
CREATE TABLE s1.t_drop (a integer);
CREATE TABLE s1.t_rename (old_name integer, keep integer);
CREATE VIEW s1.v_drop AS SELECT id FROM s1.t_alter;
CREATE VIEW s1.v_keep AS SELECT id, name FROM s1.t_alter;
CREATE TABLE s2.u (a integer);
"""

SECOND = """
ALTER TABLE s1.t_alter ALTER COLUMN c TYPE bigint;
ALTER TABLE s1.t_alter ALTER COLUMN name DROP NOT NULL;
ALTER TABLE s1.t_alter ALTER COLUMN note SET DEFAULT 'y';
COMMENT ON COLUMN s1.t_alter.id IS 'the key';
ALTER TABLE s1.t_alter ADD CONSTRAINT t_alter_c_key UNIQUE (c);
DROP TABLE s1.t_drop;
ALTER TABLE s1.t_rename RENAME COLUMN old_name TO new_name;
CREATE TABLE s1.t_new (x integer);
DROP VIEW s1.v_drop;
CREATE VIEW s1.v_new AS SELECT 1 AS one;
DROP SCHEMA s2 CASCADE;
CREATE SCHEMA s3;
CREATE TABLE s3.w (a integer);
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store: a SQLite file, or a PostgreSQL database."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "store.db")
        return
    server: PgServer = request.getfixturevalue("postgres_server")
    name = pg_store_database(server)
    try:
        yield pg_url(server, name)
    finally:
        server.drop_database(name)


async def test_adds_alters_renames_and_drops_are_recorded_exactly(
    postgres_server: PgServer, pg_database: str, store_url: str
) -> None:
    config = store_config(postgres_server.source(pg_database), store_url, delete_threshold=100)
    await pg_execute(postgres_server, pg_database, FIRST)
    report = await run(config)
    assert report.published
    db = f"pg.{pg_database}"
    first = await changes_of(store_url)
    assert summary(first, f"{db}.") == {
        (f"{db}", "added"),
        ("public", "added"),
        ("s1", "added"),
        ("s2", "added"),
        ("s1.t_alter", "added"),
        ("s1.t_drop", "added"),
        ("s1.t_rename", "added"),
        ("s1.v_drop", "added"),
        ("s1.v_keep", "added"),
        ("s2.u", "added"),
    }

    unchanged = await run(config)
    assert unchanged.published
    assert await changes_of(store_url) == []

    await pg_execute(postgres_server, pg_database, SECOND)
    assert (await run(config)).published
    second = await changes_of(store_url)
    assert summary(second, f"{db}.") == {
        ("s1.t_alter", "updated"),
        ("s1.t_drop", "deleted"),
        ("s1.t_rename", "updated"),
        ("s1.t_new", "added"),
        ("s1.v_drop", "deleted"),
        ("s1.v_new", "added"),
        ("s2", "deleted"),
        ("s2.u", "deleted"),
        ("s3", "added"),
        ("s3.w", "added"),
    }
    by_fqn = {c.fqn.removeprefix(f"{db}."): c for c in second}
    altered = by_fqn["s1.t_alter"]
    assert field_names(altered) == {
        "added": ["columns.id.description", "tableConstraints.t_alter_c_key"],
        "updated": [
            "columns.c.dataType",
            "columns.c.dataTypeDisplay",
            "columns.name.nullable",
            "columns.note.default",
        ],
        "deleted": [],
    }
    values = {f.name: (f.old, f.new) for f in altered.fields.updated}
    assert values["columns.c.dataType"] == ("INT", "BIGINT")
    assert values["columns.name.nullable"] == (False, True)
    assert values["columns.note.default"] == ("'x'::text", "'y'::text")
    assert altered.fields.added[0].new == "the key"
    assert altered.breaking  # a type changed
    renamed = by_fqn["s1.t_rename"]
    assert field_names(renamed) == {
        "added": ["columns.new_name"],
        "updated": [],
        "deleted": ["columns.old_name"],
    }
    assert renamed.breaking  # a column removed
    assert not by_fqn["s1.t_new"].breaking
    assert [c.version for c in (altered, renamed)] == [2, 2]

    async with await open_store(store_url) as store:
        live = {e.fqn.removeprefix(f"{db}.") for e in await store.entities(f"{db}.*")}
        assert live == {
            "public",
            "s1",
            "s1.t_alter",
            "s1.t_rename",
            "s1.t_new",
            "s1.v_keep",
            "s1.v_new",
        } | {
            "s3",
            "s3.w",
        }
        history = await store.history(f"{db}.s1.t_alter")
        types = [{c["name"]: c["data_type"] for c in v.content["columns"]}["c"] for v in history]
        assert types == ["INT", "BIGINT"]
        assert [(v.version, v.change.change if v.change else None) for v in history] == [
            (1, "added"),
            (2, "updated"),
        ]
        (gone,) = await store.entities(f"{db}.s1.t_drop", deleted=True)
        assert gone.deleted and gone.deleted_run == second[0].run
        assert gone.last_seen_run is not None and gone.last_seen_run < gone.deleted_run


async def test_length_and_precision_reductions_are_breaking(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "store.db")
    config = store_config(postgres_server.source(pg_database), url)
    await pg_execute(
        postgres_server,
        pg_database,
        "CREATE TABLE t (v varchar(40), n numeric(12, 4), w varchar(10), d text);",
    )
    await run(config)
    await pg_execute(
        postgres_server,
        pg_database,
        "ALTER TABLE t ALTER COLUMN w TYPE varchar(20); COMMENT ON TABLE t IS 'wider';",
    )
    await run(config)
    (wider,) = await changes_of(url)
    assert not wider.breaking  # a length grew, a comment came
    assert field_names(wider)["added"] == ["description"]
    await pg_execute(postgres_server, pg_database, "ALTER TABLE t ALTER COLUMN v TYPE varchar(20)")
    await run(config)
    (shorter,) = await changes_of(url)
    assert shorter.breaking
    assert {f.name: (f.old, f.new) for f in shorter.fields.updated}["columns.v.dataLength"] == (
        40,
        20,
    )
    await pg_execute(
        postgres_server, pg_database, "ALTER TABLE t ALTER COLUMN n TYPE numeric(10, 4)"
    )
    await run(config)
    (narrower,) = await changes_of(url)
    assert narrower.breaking
    assert "columns.n.precision" in field_names(narrower)["updated"]
