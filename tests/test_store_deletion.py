"""Safe deletion in the catalog store: what a run did not read, or filtered, deletes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metaingest.connectors.base import Unit
from metaingest.store import open_store

from .clikit import run_cli
from .conftest import PgServer
from .faultkit import pg_execute, run
from .storekit import changes_of, sqlite_url, store_config, summary

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

CATALOG = """
CREATE SCHEMA s1;
CREATE SCHEMA s2;
CREATE TABLE s1.t1 (a integer);
CREATE TABLE s1.t2 (a integer);
CREATE TABLE s2.u1 (a integer);
CREATE TABLE s2.u2 (a integer);
"""


async def live(url: str, pattern: str) -> set[str]:
    async with await open_store(url) as store:
        return {e.fqn for e in await store.entities(pattern)}


async def test_a_failed_schema_deletes_nothing(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "store.db")
    config = store_config(postgres_server.source(pg_database), url, success_threshold=50)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(config)
    await pg_execute(postgres_server, pg_database, "DROP TABLE s1.t2; DROP TABLE s2.u2;")

    async def broken(unit: Unit, connection: Any, attempt: int) -> None:
        if unit.schema.name == "s1":
            raise PermissionError("injected: cannot read s1")

    report = await run(config, broken)
    assert report.published and report.units_failed == 1
    db = f"pg.{pg_database}"
    assert summary(await changes_of(url), f"{db}.") == {("s2.u2", "deleted")}
    assert f"{db}.s1.t2" in await live(url, f"{db}.s1.*")
    async with await open_store(url) as store:
        (latest, first) = await store.runs(2)
        assert latest.units["failed"] == (f"{db}.s1",)
        assert set(latest.units["complete"]) == {f"{db}.public", f"{db}.s2"}
        (t2,) = await store.entities(f"{db}.s1.t2")
        assert t2.last_seen_run == first.id  # not seen in the run that failed to read s1
        (t1,) = await store.entities(f"{db}.s1.t1")
        assert t1.last_seen_run == first.id
        (u1,) = await store.entities(f"{db}.s2.u1")
        assert u1.last_seen_run == latest.id

    report = await run(config)  # s1 readable again: now t2 goes
    assert summary(await changes_of(url), f"{db}.") == {("s1.t2", "deleted")}


async def test_a_filtered_schema_is_out_of_scope_not_deleted(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "store.db")
    source = postgres_server.source(pg_database)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(store_config(source, url))
    filtered = store_config({**source, "schema_filter": {"includes": ["^(public|s1)$"]}}, url)
    report = await run(filtered)
    assert report.published
    db = f"pg.{pg_database}"
    assert await changes_of(url) == []  # nothing changed or deleted
    recorded = await changes_of(url, recorded=True)
    assert summary(recorded, f"{db}.") == {
        ("s2", "out_of_scope"),
        ("s2.u1", "out_of_scope"),
        ("s2.u2", "out_of_scope"),
    }
    assert {f"{db}.s2.u1", f"{db}.s2.u2"} <= await live(url, f"{db}.s2.*")
    await run(filtered)  # still filtered: recorded once, when it left the scope
    assert await changes_of(url, recorded=True) == []
    await run(store_config(source, url))  # back in scope: nothing to record, nothing changed
    assert await changes_of(url, recorded=True) == []


async def test_an_empty_listing_and_a_new_service_name_delete_nothing(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "store.db")
    source = postgres_server.source(pg_database)
    await pg_execute(postgres_server, pg_database, CATALOG + "CREATE TABLE s1.t3 (a int);" * 1)
    await run(store_config(source, url))
    await pg_execute(postgres_server, pg_database, "DROP TABLE s2.u1; DROP TABLE s2.u2;")
    report = await run(store_config(source, url, delete_threshold=100))
    db = f"pg.{pg_database}"
    assert await changes_of(url) == []
    assert [(i.level, i.fqn) for i in report.issues] == [("warning", f"{db}.s2")]
    assert "none now" in report.issues[0].message

    renamed = store_config({**source, "service_name": "pg_renamed"}, url, delete_threshold=100)
    await run(renamed)
    assert {c.fqn.split(".")[0] for c in await changes_of(url)} == {"pg_renamed"}
    assert f"{db}.s1.t1" in await live(url, f"{db}.*")  # the old identity is left alone


async def test_the_fail_safe_withholds_and_allow_mass_delete_proceeds(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "store.db")
    source = postgres_server.source(pg_database)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(store_config(source, url))
    await pg_execute(postgres_server, pg_database, "DROP TABLE s1.t2; DROP TABLE s2.u2;")
    db = f"pg.{pg_database}"
    # 2 of 8 live entities (25 %) > the default delete_threshold of 20 %
    report = await run(store_config(source, url))
    assert report.published and report.warnings == 1
    assert "withheld" in report.issues[0].message and report.issues[0].fqn == "pg"
    assert await changes_of(url) == []
    withheld = await changes_of(url, recorded=True)
    assert summary(withheld, f"{db}.") == {("s1.t2", "withheld"), ("s2.u2", "withheld")}
    assert {f"{db}.s1.t2", f"{db}.s2.u2"} <= await live(url, f"{db}.*")
    async with await open_store(url) as store:
        (latest,) = await store.runs(1)
        assert latest.counts["withheld"] == 2 and "withheld" in latest.warnings[0][1]

    workflow = tmp_path / "workflow.json"
    doc = {"source": source, "sink": {"type": "catalog", "url": url}}
    workflow.write_text(json.dumps(doc), encoding="utf-8")
    done = run_cli("ingest", "-c", str(workflow), "-q", "--allow-mass-delete")
    assert done.returncode == 0, done.stderr
    assert summary(await changes_of(url), f"{db}.") == {("s1.t2", "deleted"), ("s2.u2", "deleted")}


async def test_a_dropped_and_recreated_table_is_restored_with_its_history(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    url = sqlite_url(tmp_path / "store.db")
    config = store_config(postgres_server.source(pg_database), url, delete_threshold=100)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await run(config)
    db = f"pg.{pg_database}"
    await pg_execute(postgres_server, pg_database, "DROP TABLE s1.t2")
    await run(config)
    assert summary(await changes_of(url), f"{db}.") == {("s1.t2", "deleted")}
    await pg_execute(postgres_server, pg_database, "CREATE TABLE s1.t2 (a integer, b text)")
    await run(config)
    (restored,) = await changes_of(url)
    assert (restored.fqn, restored.change, restored.version) == (f"{db}.s1.t2", "restored", 2)
    assert [f.name for f in restored.fields.added] == ["columns.b"]
    async with await open_store(url) as store:
        versions = await store.history(f"{db}.s1.t2")
        assert [v.version for v in versions] == [1, 2]
        columns = [[c["name"] for c in v.content["columns"]] for v in versions]
        assert columns == [["a"], ["a", "b"]]  # each version's own content
        events = [e.change for e in await store.events(f"{db}.s1.t2")]
        assert events == ["added", "deleted", "restored"]
        (entity,) = await store.entities(f"{db}.s1.t2")
        assert not entity.deleted and entity.first_seen_run == versions[0].run


@pytest.fixture
def other_database(postgres_server: PgServer) -> Iterator[str]:
    """A second throwaway database (the test drops it; dropped again afterwards)."""
    name = postgres_server.create_database()
    try:
        yield name
    finally:
        postgres_server.drop_database(name)


async def test_a_dropped_database_is_deleted_with_everything_in_it(
    postgres_server: PgServer, pg_database: str, other_database: str, tmp_path: Path
) -> None:
    other = other_database
    url = sqlite_url(tmp_path / "store.db")
    source = postgres_server.source(
        database_filter={"includes": [f"^{pg_database}$", f"^{other}$"]}
    )
    source.pop("database", None)
    config = store_config(source, url, delete_threshold=100)
    await pg_execute(postgres_server, pg_database, CATALOG)
    await pg_execute(postgres_server, other, "CREATE TABLE t (a int)")
    await run(config)
    await pg_execute(postgres_server, "postgres", f'DROP DATABASE "{other}" WITH (FORCE)')
    report = await run(config)
    assert report.published
    assert summary(await changes_of(url), "pg.") == {
        (other, "deleted"),
        (f"{other}.public", "deleted"),
        (f"{other}.public.t", "deleted"),
    }
    assert await live(url, f"pg.{other}*") == set()
