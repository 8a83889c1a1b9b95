"""A view's lineage is part of its content in the catalog store: a changed lineage is an
ordinary, field-level change of the view."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from .faultkit import run
from .storekit import changes_of, field_names, sqlite_url, store_config, summary

pytestmark = pytest.mark.anyio


async def test_a_changed_view_query_changes_its_lineage_in_the_store(tmp_path: Path) -> None:
    db = tmp_path / "lite.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE t (a INT, b INT); CREATE TABLE u (c INT);"
            "CREATE VIEW v AS SELECT a FROM t;"
        )
    conn.close()
    url = sqlite_url(tmp_path / "store.db")
    config = store_config(
        {"type": "sqlite", "path": str(db), "service_name": "s", "include_lineage": True}, url
    )
    assert (await run(config)).published
    with sqlite3.connect(db) as conn:  # same columns, another source: only lineage changes
        conn.executescript("DROP VIEW v; CREATE VIEW v AS SELECT c AS a FROM u;")
    conn.close()
    assert (await run(config)).published
    changes = await changes_of(url)
    assert summary(changes, "s.lite.") == {("main.v", "updated")}
    (change,) = changes
    # named as OpenMetadata names them: the view's query is its schemaDefinition
    assert sorted(field_names(change)["updated"]) == ["lineage", "schemaDefinition"]
