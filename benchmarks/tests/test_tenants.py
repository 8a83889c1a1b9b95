"""The multi-tenant shapes' generator: deterministic DDL with the relations the issue asks."""

from __future__ import annotations

from benchmarks.tenants import SHAPES, ddl


def test_database_per_tenant_shape() -> None:
    shape = SHAPES["dbs"]
    assert len(shape.databases) == 60 and shape.schemas == 2
    statements = ddl("postgres", shape, 1)
    assert sum(s.startswith("CREATE TABLE") for s in statements) == 10
    assert not any(s.startswith("CREATE VIEW") for s in statements)
    assert ddl("postgres", shape, 1) == statements


def test_schema_per_tenant_shape() -> None:
    shape = SHAPES["schemas"]
    assert shape.databases == ("mi_bench_tenants",) and shape.schemas == 1000
    statements = ddl("postgres", shape, 999)
    tables = [s for s in statements if s.startswith("CREATE TABLE")]
    assert len(tables) == 3 + 1 + 2  # 3 tables, the partitioned one and its 2 partitions
    assert sum(" PARTITION OF " in s for s in tables) == 2
    assert sum(s.startswith("CREATE VIEW") for s in statements) == 5
    assert sum(s.startswith("CREATE MATERIALIZED VIEW") for s in statements) == 1
    assert statements[0] == 'CREATE SCHEMA "mi_bench_s0999"'


def test_mariadb_schemas_are_databases() -> None:
    statements = ddl("mariadb", SHAPES["schemas"], 7)
    assert statements[0] == "CREATE DATABASE `mi_bench_tenant_s0007`"
    assert sum(s.startswith("CREATE TABLE") for s in statements) == 3
    assert sum(s.startswith("CREATE VIEW") for s in statements) == 5
    assert not any("MATERIALIZED" in s or "PARTITION" in s for s in statements)
