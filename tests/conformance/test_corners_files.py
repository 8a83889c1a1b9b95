"""Engine corners on SQLite and DuckDB files, field by field (issue "Extraction depth").

SQLite: virtual tables' hidden columns, which key columns are implicitly NOT NULL, untyped
columns, generated columns' expressions, unique indexes. DuckDB: unique indexes. Both: the
view definition is the query, and OpenMetadata's schemaDefinition the whole statement.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from metaingest.entities import ConstraintType, DataType, Table, UniqueIndex

from .corners import extract

pytestmark = pytest.mark.anyio

SQLITE_DDL = (
    "CREATE VIRTUAL TABLE docs USING fts5(title, body)",
    "CREATE TABLE pair(a INTEGER, b INTEGER, PRIMARY KEY(a, b))",
    "CREATE TABLE desc_key(id INTEGER PRIMARY KEY DESC, x)",
    "CREATE TABLE alias(id INTEGER PRIMARY KEY, x)",
    "CREATE TABLE alias_desc(id integer, x, PRIMARY KEY(id DESC))",
    "CREATE TABLE text_key(id TEXT PRIMARY KEY, x)",
    "CREATE TABLE bigint_key(id BIGINT PRIMARY KEY)",
    "CREATE TABLE no_rowid(a TEXT, b INT, c, PRIMARY KEY(a, b)) WITHOUT ROWID",
    "CREATE TABLE untyped(a, b BLOB)",
    "CREATE TABLE gen(\n"
    "  a INTEGER,\n"
    "  b INTEGER GENERATED ALWAYS AS (a * 2) STORED,\n"
    "  \"c AS (x)\" TEXT GENERATED ALWAYS AS (a || 'AS (y), z') VIRTUAL,\n"
    "  d AS (abs(a)),\n"
    "  [e] REAL AS ((a + 1) / 2.0) STORED, -- AS (a comment)\n"
    "  f INT DEFAULT (CAST(1 AS INT)) /* AS (not this) */,\n"
    "  CHECK (a > 0)\n"
    ")",
    "CREATE UNIQUE INDEX ux_untyped ON untyped(a)",
    "CREATE UNIQUE INDEX ux_gen_expr ON gen(lower(a), b DESC)",
    "CREATE UNIQUE INDEX ux_gen_partial ON gen(d) WHERE a > 0",
    "CREATE VIEW v (x) AS SELECT a FROM untyped;",
)


@pytest.fixture(scope="module")
def sqlite_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Table]:
    import anyio

    path = tmp_path_factory.mktemp("corners") / "corners.db"
    connection = sqlite3.connect(path)
    try:
        for statement in SQLITE_DDL:
            connection.execute(statement)
        connection.commit()
    finally:
        connection.close()
    source = {"type": "sqlite", "path": str(path), "service_name": "lite"}
    return anyio.run(extract, source)


def _nullable(table: Table) -> dict[str, bool]:
    return {c.name: c.nullable for c in table.columns}


def test_sqlite_virtual_table_hides_its_hidden_columns(sqlite_tables: dict[str, Table]) -> None:
    docs = sqlite_tables["main.docs"]
    assert [(c.name, c.ordinal_position) for c in docs.columns] == [("title", 1), ("body", 2)]


def test_sqlite_only_a_rowid_alias_or_a_without_rowid_key_is_implicitly_not_null(
    sqlite_tables: dict[str, Table],
) -> None:
    assert _nullable(sqlite_tables["main.pair"]) == {"a": True, "b": True}
    assert _nullable(sqlite_tables["main.desc_key"]) == {"id": True, "x": True}
    assert _nullable(sqlite_tables["main.alias"]) == {"id": False, "x": True}
    assert _nullable(sqlite_tables["main.alias_desc"]) == {"id": False, "x": True}
    assert _nullable(sqlite_tables["main.text_key"]) == {"id": True, "x": True}
    assert _nullable(sqlite_tables["main.bigint_key"]) == {"id": True}
    assert _nullable(sqlite_tables["main.no_rowid"]) == {"a": False, "b": False, "c": True}


def test_sqlite_nullability_agrees_with_the_engine(
    sqlite_tables: dict[str, Table], tmp_path: Path
) -> None:
    """What the connector calls nullable is what SQLite accepts: a NULL stays NULL there."""
    inserts = {
        ("pair", "a"): "INSERT INTO pair VALUES (NULL, 1)",
        ("pair", "b"): "INSERT INTO pair VALUES (1, NULL)",
        ("desc_key", "id"): "INSERT INTO desc_key VALUES (NULL, 1)",
        ("alias", "id"): "INSERT INTO alias VALUES (NULL, 1)",  # NULL becomes a new rowid
        ("alias_desc", "id"): "INSERT INTO alias_desc VALUES (NULL, 1)",
        ("text_key", "id"): "INSERT INTO text_key VALUES (NULL, 1)",
        ("bigint_key", "id"): "INSERT INTO bigint_key VALUES (NULL)",
        ("no_rowid", "a"): "INSERT INTO no_rowid VALUES (NULL, 1, 1)",
        ("no_rowid", "b"): "INSERT INTO no_rowid VALUES ('x', NULL, 1)",
    }
    connection = sqlite3.connect(tmp_path / "probe.db")
    try:
        for statement in SQLITE_DDL[1:8]:
            connection.execute(statement)
        holds_null = {}
        for (table, column), insert in inserts.items():
            try:
                connection.execute(insert)
            except sqlite3.IntegrityError:
                holds_null[(table, column)] = False
                continue
            query = f"SELECT count(*) FROM {table} WHERE {column} IS NULL"
            holds_null[(table, column)] = connection.execute(query).fetchone()[0] > 0
    finally:
        connection.close()
    reported = {
        (table, column): _nullable(sqlite_tables[f"main.{table}"])[column]
        for table, column in inserts
    }
    assert reported == holds_null
    assert sorted(key for key, value in holds_null.items() if not value) == [
        ("alias", "id"),
        ("alias_desc", "id"),
        ("no_rowid", "a"),
        ("no_rowid", "b"),
    ]


def test_sqlite_untyped_column_has_no_type_spelling(sqlite_tables: dict[str, Table]) -> None:
    a, b = sqlite_tables["main.untyped"].columns
    assert (a.data_type, a.data_type_display) == (DataType.BLOB, "")
    assert (b.data_type, b.data_type_display) == (DataType.BLOB, "BLOB")


def test_sqlite_generated_columns_have_their_expression(sqlite_tables: dict[str, Table]) -> None:
    columns = {c.name: c for c in sqlite_tables["main.gen"].columns}
    assert [c.name for c in sqlite_tables["main.gen"].columns] == [
        "a",
        "b",
        "c AS (x)",
        "d",
        "e",
        "f",
    ]
    assert {name: c.generated for name, c in columns.items()} == {
        "a": None,
        "b": "a * 2",
        "c AS (x)": "a || 'AS (y), z'",
        "d": "abs(a)",
        "e": "(a + 1) / 2.0",
        "f": None,
    }
    assert columns["f"].default == "CAST(1 AS INT)"
    assert (columns["d"].data_type_display, columns["e"].data_type) == ("", DataType.DOUBLE)


def test_sqlite_unique_indexes(sqlite_tables: dict[str, Table]) -> None:
    (unique,) = sqlite_tables["main.untyped"].constraints
    assert (unique.constraint_type, unique.columns, unique.name, unique.from_index) == (
        ConstraintType.UNIQUE,
        ("a",),
        "ux_untyped",
        True,
    )
    gen = sqlite_tables["main.gen"]
    assert gen.constraints == ()
    assert gen.unique_indexes == (
        UniqueIndex(name="ux_gen_expr", columns=(None, "b"), expressions=("lower(a)",)),
        UniqueIndex(name="ux_gen_partial", columns=("d",), predicate="a > 0"),
    )
    assert sqlite_tables["main.pair"].unique_indexes is None


def test_sqlite_view_definition_is_the_query(sqlite_tables: dict[str, Table]) -> None:
    view = sqlite_tables["main.v"]
    assert view.view_definition == "SELECT a FROM untyped"
    statement = view.to_openmetadata()["schemaDefinition"]
    assert statement == "CREATE VIEW main.v AS SELECT a FROM untyped"


DUCKDB_DDL = (
    "CREATE SCHEMA s",
    'CREATE TABLE s.t(a INTEGER PRIMARY KEY, b VARCHAR, c INTEGER UNIQUE, "D d" INTEGER)',
    "CREATE UNIQUE INDEX ux_b ON s.t(b)",
    'CREATE UNIQUE INDEX "ux d" ON s.t("D d", c)',
    "CREATE UNIQUE INDEX ux_expr ON s.t(lower(b), a)",
    "CREATE INDEX ix_plain ON s.t(c)",
    'CREATE VIEW s."V w" AS SELECT a, b FROM s.t WHERE a > 0;',
)


@pytest.fixture(scope="module")
def duckdb_tables(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Table]:
    import anyio
    import duckdb

    path = tmp_path_factory.mktemp("corners_duck") / "corners.duckdb"
    connection = duckdb.connect(str(path))
    try:
        for statement in DUCKDB_DDL:
            connection.execute(statement)
    finally:
        connection.close()
    source = {
        "type": "sqlalchemy",
        "url": f"duckdb:///{path}",
        "service_name": "duck",
        "schema_filter": {"includes": ["^s$"]},
    }
    return anyio.run(extract, source)


def test_duckdb_unique_indexes(duckdb_tables: dict[str, Table]) -> None:
    table = duckdb_tables["s.t"]
    assert [(c.constraint_type, c.columns, c.name, c.from_index) for c in table.constraints] == [
        (ConstraintType.PRIMARY_KEY, ("a",), "t_a_pkey", None),
        (ConstraintType.UNIQUE, ("c",), "t_c_key", None),
        (ConstraintType.UNIQUE, ("D d", "c"), "ux d", True),
        (ConstraintType.UNIQUE, ("b",), "ux_b", True),
    ]
    (expression,) = table.unique_indexes or ()
    assert expression.name == "ux_expr"
    assert expression.columns == (None, "a")
    assert [e.replace("(", "").replace(")", "") for e in expression.expressions] == ["lowerb"]


def test_duckdb_view_definition_is_the_query(duckdb_tables: dict[str, Table]) -> None:
    view = duckdb_tables["s.V w"]
    assert view.view_definition == "SELECT a, b FROM s.t WHERE (a > 0)"
    statement = view.to_openmetadata()["schemaDefinition"]
    assert statement == 'CREATE VIEW s."V w" AS SELECT a, b FROM s.t WHERE (a > 0)'


@pytest.mark.parametrize(
    ("statement", "query"),
    [
        (
            'CREATE TEMP VIEW IF NOT EXISTS "v AS x"(a, b) AS SELECT 1 AS a, 2;  ',
            "SELECT 1 AS a, 2",
        ),
        ("create view [as] as select 'AS (x)' as y", "select 'AS (x)' as y"),
        (" SELECT t.a\n   FROM public.t;", "SELECT t.a\n   FROM public.t"),  # PostgreSQL's
        ("select `a` AS `b` from `t`", "select `a` AS `b` from `t`"),  # MySQL's, as it is
    ],
)
def test_view_query_takes_the_text_after_the_keyword_as(statement: str, query: str) -> None:
    from metaingest.connectors.sqltext import view_query

    assert view_query(statement) == query


def test_table_text_reads_tokens_not_raw_text() -> None:
    from metaingest.connectors.sqltext import table_text

    text = table_text(
        'CREATE TABLE "t(x" (a, "AS (no)" TEXT DEFAULT \'AS (no)\', b AS(a+1),'
        ' c VARCHAR(10) GENERATED ALWAYS AS (upper("a")),'
        " d NUMERIC(10, 2) CHECK (d > 0) AS (a * 1.5) STORED) STRICT, WITHOUT ROWID"
    )
    assert text.generated == {"b": "a+1", "c": 'upper("a")', "d": "a * 1.5"}
    assert text.without_rowid
    assert not table_text("CREATE TABLE t(a, b TEXT) -- WITHOUT ROWID").without_rowid
