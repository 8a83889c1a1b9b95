"""The catalog generator is deterministic and has the promised shape."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from benchmarks.catalog import CatalogSize, build_sqlite, ddl_for_schema, schema_spec

ENGINES = ("postgres", "mariadb", "sqlite")


@pytest.mark.parametrize("engine", ENGINES)
def test_same_size_and_seed_give_the_same_ddl(engine: str) -> None:
    size = CatalogSize(3, 20, 9)
    first = [ddl_for_schema(engine, size, i, seed=7) for i in range(3)]
    again = [ddl_for_schema(engine, size, i, seed=7) for i in range(3)]
    assert first == again
    assert first != [ddl_for_schema(engine, size, i, seed=8) for i in range(3)]


def test_shape() -> None:
    size = CatalogSize(2, 60, 12)
    spec = schema_spec(size, 1)
    assert len(spec.tables) == 60
    assert all(len(t.columns) == 12 and t.primary_key for t in spec.tables)
    assert any(len(t.primary_key) == 2 for t in spec.tables)
    assert any(t.unique for t in spec.tables)
    refs = {fk.schema_index for t in spec.tables for fk in t.foreign_keys}
    assert refs == {0, 1}  # within the schema and to the previous one
    columns = [c for t in spec.tables for c in t.columns]
    commented = sum(c.comment is not None for c in columns) / len(columns)
    assert 0.3 < commented < 0.7
    assert len({c.kind for c in columns}) >= 12
    assert len(spec.views) == 3


def test_postgres_extras_and_names() -> None:
    size = CatalogSize(1, 5, 6)
    ddl = "\n".join(ddl_for_schema("postgres", size, 0))
    assert "MATERIALIZED VIEW" in ddl and "PARTITION BY RANGE" in ddl
    assert ddl.count("PARTITION OF") == 4
    assert ddl.count("CREATE OR REPLACE FUNCTION") == 3
    assert ddl.count("CREATE OR REPLACE PROCEDURE") == 2
    assert size.database.startswith("mi_bench_")
    assert size.schema_name("mariadb", 3).startswith("mi_bench_")


def test_sqlite_catalog_builds(tmp_path: Path) -> None:
    size = CatalogSize(2, 8, 6)
    build_sqlite(size, str(tmp_path))
    files = sorted((tmp_path / size.database).glob("*.sqlite"))
    assert len(files) == 2
    with sqlite3.connect(files[1]) as conn:
        kinds = conn.execute("SELECT type, count(*) FROM sqlite_master GROUP BY type").fetchall()
    assert dict(kinds)["table"] == 8 and dict(kinds)["view"] == 6  # 3 joins + 3 varied shapes
