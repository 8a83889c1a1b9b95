"""Deterministic synthetic catalogs on PostgreSQL, MariaDB and SQLite.

A catalog is sized by ``schemas x tables x columns``. The same size and seed give the same
DDL, byte for byte: each schema's layout comes from its own ``random.Random`` seeded with
``(seed, schema index)``. Every table has a primary key (every tenth a composite one); a third
have a unique constraint; many have a foreign key to an earlier table of their schema, some to
the first table of the previous schema; about half of the tables, views and columns carry a
comment; each schema has up to three join views and three more of the shapes lineage parses
(aggregate, CASE + UNION, CTE + window over a view, cross-schema), and on PostgreSQL also a
materialized view and a range-partitioned table with four partitions. Each PostgreSQL and
MariaDB schema also has ``ROUTINES`` routines: three functions (on PostgreSQL one of them
overloaded) and two procedures, half of them commented.

Everything is named ``mi_bench_*``. Each schema's DDL goes to the server as one multi-statement
batch, so building costs one round trip per schema.

    python -m benchmarks catalog --engine postgres --schemas 40 --tables 50 --columns 12
    python -m benchmarks catalog --engine postgres --drop          # every mi_bench_* database
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

__all__ = [
    "BENCH_USER",
    "PREFIX",
    "CatalogSize",
    "SchemaSpec",
    "TableSpec",
    "ddl_for_schema",
    "routine_ddl",
    "schema_spec",
]

PREFIX = "mi_bench_"
BENCH_USER = "mi_bench"  # MariaDB user of benchmark runs, so PROCESSLIST can count them

# kind -> (PostgreSQL, MariaDB, SQLite); {n} / {p},{s} are filled per column.
TYPES: dict[str, tuple[str, str, str]] = {
    "int": ("integer", "int", "INTEGER"),
    "bigint": ("bigint", "bigint", "INTEGER"),
    "smallint": ("smallint", "smallint", "INTEGER"),
    "varchar": ("varchar({n})", "varchar({n})", "VARCHAR({n})"),
    "text": ("text", "text", "TEXT"),
    "decimal": ("numeric({p},{s})", "decimal({p},{s})", "NUMERIC({p},{s})"),
    "double": ("double precision", "double", "REAL"),
    "bool": ("boolean", "tinyint(1)", "BOOLEAN"),
    "date": ("date", "date", "DATE"),
    "timestamp": ("timestamp", "datetime", "TIMESTAMP"),
    "timestamptz": ("timestamptz", "timestamp NULL", "TIMESTAMP"),
    "time": ("time", "time", "TIME"),
    "json": ("jsonb", "json", "TEXT"),
    "uuid": ("uuid", "char(36)", "TEXT"),
    "bytes": ("bytea", "varbinary({n})", "BLOB"),
    "char": ("char({n})", "char({n})", "CHAR({n})"),
    "enum": ("varchar(16)", "enum('new','open','closed')", "TEXT"),
    "array": ("text[]", "json", "TEXT"),
    "inet": ("inet", "varchar(45)", "TEXT"),
}
_KINDS = sorted(TYPES)
_WEIGHTS = [6 if k in ("int", "bigint", "varchar", "text", "timestamp") else 2 for k in _KINDS]
_ENGINES = ("postgres", "mariadb", "sqlite")
_WORDS = ("order", "customer", "invoice", "shipment", "account", "ledger", "event", "product")


@dataclass(frozen=True, slots=True)
class CatalogSize:
    """How many schemas, tables per schema and columns per table."""

    schemas: int = 40
    tables: int = 50
    columns: int = 12

    def __post_init__(self) -> None:
        if self.schemas < 1 or self.tables < 1 or self.columns < 4:
            raise ValueError("need schemas >= 1, tables >= 1, columns >= 4")

    @property
    def tag(self) -> str:
        """``40x50x12``: part of the database (PostgreSQL) or schema (MariaDB) names."""
        return f"{self.schemas}x{self.tables}x{self.columns}"

    @property
    def database(self) -> str:
        """The PostgreSQL database holding this catalog."""
        return f"{PREFIX}{self.tag}"

    def schema_name(self, engine: str, index: int) -> str:
        """Name of schema ``index``: unique per server on MariaDB, per database elsewhere."""
        if engine == "mariadb":
            return f"{PREFIX}{self.tag}_s{index:04d}"
        return f"{PREFIX}s{index:04d}"

    def schema_regex(self, engine: str) -> str:
        """An include pattern matching exactly this catalog's schemas."""
        return "^" + self.schema_name(engine, 0)[:-4] + "[0-9]{4}$"


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    name: str
    kind: str
    nullable: bool = True
    n: int = 0
    p: int = 0
    s: int = 0
    comment: str | None = None

    def sql_type(self, engine: str) -> str:
        return TYPES[self.kind][_ENGINES.index(engine)].format(n=self.n, p=self.p, s=self.s)


@dataclass(frozen=True, slots=True)
class ForeignKey:
    name: str
    column: str
    schema_index: int
    table: str


@dataclass(frozen=True, slots=True)
class TableSpec:
    name: str
    columns: tuple[ColumnSpec, ...]
    primary_key: tuple[str, ...]
    unique: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ViewSpec:
    name: str
    left: str
    right: str
    columns: tuple[str, ...]
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class SchemaSpec:
    index: int
    tables: tuple[TableSpec, ...]
    views: tuple[ViewSpec, ...] = field(default=())


def _table_name(i: int) -> str:
    return f"t{i:04d}"


def _composite(i: int) -> bool:
    return i % 10 == 7


def _comment(rng: random.Random, what: str) -> str | None:
    if rng.random() < 0.5:
        return None
    return f"{rng.choice(_WORDS)} {what}: it's generated #{rng.randrange(10_000)}"


def _column(rng: random.Random, j: int) -> ColumnSpec:
    kind = rng.choices(_KINDS, _WEIGHTS)[0]
    return ColumnSpec(
        name=f"c{j:02d}_{kind}",
        kind=kind,
        nullable=rng.random() < 0.7,
        n=rng.choice((8, 16, 32, 64, 255)),
        p=rng.choice((10, 12, 18)),
        s=rng.choice((0, 2, 4)),
        comment=_comment(rng, "column"),
    )


def _table(rng: random.Random, size: CatalogSize, s: int, i: int) -> TableSpec:
    name = _table_name(i)
    cols = [ColumnSpec("id", "bigint", nullable=False, comment=_comment(rng, "key"))]
    pk: tuple[str, ...] = ("id",)
    if _composite(i):
        cols.append(ColumnSpec("tenant", "int", nullable=False))
        pk = ("id", "tenant")
    fks: list[ForeignKey] = []
    targets = [j for j in range(i) if not _composite(j)]
    if targets and rng.random() < 0.4 and len(cols) < size.columns:
        cols.append(ColumnSpec("parent_id", "bigint"))
        target = _table_name(rng.choice(targets))
        fks.append(ForeignKey(f"fk_{name}_parent", "parent_id", s, target))
    if s > 0 and i % 7 == 3 and len(cols) < size.columns:
        cols.append(ColumnSpec("xref_id", "bigint", comment=_comment(rng, "cross-schema ref")))
        fks.append(ForeignKey(f"fk_{name}_xref", "xref_id", s - 1, _table_name(0)))
    unique: tuple[str, ...] = ()
    if i % 3 == 0 and len(cols) < size.columns:
        cols.append(ColumnSpec("code", "varchar", nullable=False, n=40))
        unique = ("code",)
    while len(cols) < size.columns:
        cols.append(_column(rng, len(cols)))
    return TableSpec(name, tuple(cols), pk, unique, tuple(fks), _comment(rng, "table"))


def schema_spec(size: CatalogSize, index: int, seed: int = 0) -> SchemaSpec:
    """The layout of schema ``index``: a pure function of size, index and seed."""
    rng = random.Random(f"metaingest-bench:{seed}:{size.tag}:{index}")
    tables = tuple(_table(rng, size, index, i) for i in range(size.tables))
    views = []
    for v in range(min(3, size.tables)):
        left, right = tables[v], tables[(v + 1) % len(tables)]
        picked = tuple(c.name for c in left.columns[1:4])
        views.append(ViewSpec(f"v_{v}", left.name, right.name, picked, _comment(rng, "view")))
    return SchemaSpec(index, tables, tuple(views))


# --- rendering -----------------------------------------------------------------------------


def _q(engine: str, name: str) -> str:
    return f"`{name}`" if engine == "mariadb" else f'"{name}"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _create_table(engine: str, schema: str, t: TableSpec, size: CatalogSize) -> str:
    q = lambda n: _q(engine, n)  # noqa: E731
    lines = []
    for c in t.columns:
        line = f"{q(c.name)} {c.sql_type(engine)}{'' if c.nullable else ' NOT NULL'}"
        if engine == "mariadb" and c.comment:
            line += f" COMMENT {_lit(c.comment)}"
        lines.append(line)
    lines.append(f"CONSTRAINT {q('pk_' + t.name)} PRIMARY KEY ({', '.join(map(q, t.primary_key))})")
    if t.unique:
        lines.append(f"CONSTRAINT {q('uq_' + t.name)} UNIQUE ({', '.join(map(q, t.unique))})")
    for fk in t.foreign_keys:
        if engine == "sqlite":
            ref = q(fk.table)  # SQLite cannot reference another file: cross-schema FKs stay local
        else:
            ref = f"{q(size.schema_name(engine, fk.schema_index))}.{q(fk.table)}"
        lines.append(f"CONSTRAINT {q(fk.name)} FOREIGN KEY ({q(fk.column)}) REFERENCES {ref} (id)")
    prefix = "" if engine == "sqlite" else f"{q(schema)}."
    tail = ""
    if engine == "mariadb":
        tail = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
        if t.comment:
            tail += f" COMMENT={_lit(t.comment)}"
    return f"CREATE TABLE {prefix}{q(t.name)} (\n  " + ",\n  ".join(lines) + f"\n){tail}"


def _create_view(engine: str, schema: str, v: ViewSpec) -> str:
    q = lambda n: _q(engine, n)  # noqa: E731
    prefix = "" if engine == "sqlite" else f"{q(schema)}."
    cols = ", ".join(f"a.{q(c)}" for c in v.columns)
    return (
        f"CREATE VIEW {prefix}{q(v.name)} AS SELECT a.{q('id')}, {cols}, b.{q('id')} AS right_id"
        f" FROM {prefix}{q(v.left)} a JOIN {prefix}{q(v.right)} b ON b.{q('id')} = a.{q('id')}"
    )


def _varied_views(engine: str, size: CatalogSize, index: int, spec: SchemaSpec) -> Iterator[str]:
    """Views of the shapes lineage must parse: aggregate, CASE + UNION, CTE + window over a
    view, and (after the first schema) a cross-schema read. Three per schema."""
    q = lambda n: _q(engine, n)  # noqa: E731
    schema = size.schema_name(engine, index)
    prefix = "" if engine == "sqlite" else f"{q(schema)}."
    tables = spec.tables
    first, second, third = (tables[i % len(tables)] for i in (1, 2, 3))
    data = first.columns[-1].name
    yield (
        f"CREATE VIEW {prefix}{q('v_agg')} AS SELECT a.{q('id')} % 10 AS bucket, count(*) AS n,"
        f" count(DISTINCT a.{q(data)}) AS kinds FROM {prefix}{q(first.name)} a"
        f" GROUP BY a.{q('id')} % 10"
    )
    yield (
        f"CREATE VIEW {prefix}{q('v_union')} AS SELECT b.{q('id')}, CASE WHEN b.{q('id')} > 10"
        f" THEN 'big' ELSE 'small' END AS size FROM {prefix}{q(second.name)} b"
        f" UNION ALL SELECT c.{q('id')}, 'other' FROM {prefix}{q(third.name)} c"
    )
    source = f"{prefix}{q(spec.views[0].name)}" if spec.views else f"{prefix}{q(first.name)}"
    cross = ""
    if index > 0 and engine != "sqlite":
        other = f"{q(size.schema_name(engine, index - 1))}.{q(_table_name(0))}"
        cross = f" JOIN {other} x ON x.{q('id')} = w.{q('id')}"
    yield (
        f"CREATE VIEW {prefix}{q('v_window')} AS WITH w AS (SELECT * FROM {source})"
        f" SELECT w.{q('id')}, row_number() OVER (ORDER BY w.{q('id')}) AS rn FROM w{cross}"
    )


def _postgres_extras(schema: str) -> Iterator[str]:
    s = f'"{schema}"'
    yield (
        f'CREATE MATERIALIZED VIEW {s}."mv_0" AS SELECT id, count(*) AS n'
        f' FROM {s}."t0000" GROUP BY id WITH NO DATA'
    )
    yield f"COMMENT ON MATERIALIZED VIEW {s}.\"mv_0\" IS 'rolled-up t0000'"
    yield (
        f'CREATE TABLE {s}."events" (id bigint NOT NULL, created date NOT NULL, payload jsonb,'
        f' CONSTRAINT "pk_events" PRIMARY KEY (id, created)) PARTITION BY RANGE (created)'
    )
    yield f"COMMENT ON TABLE {s}.\"events\" IS 'partitioned by quarter'"
    bounds = ("2024-01-01", "2024-04-01", "2024-07-01", "2024-10-01", "2025-01-01")
    for q in range(4):
        yield (
            f'CREATE TABLE {s}."events_2024q{q + 1}" PARTITION OF {s}."events"'
            f" FOR VALUES FROM ('{bounds[q]}') TO ('{bounds[q + 1]}')"
        )


ROUTINES = 5  # per PostgreSQL / MariaDB schema: three functions, two procedures


def routine_ddl(engine: str, schema: str) -> list[str]:
    """The schema's functions and procedures (``CREATE OR REPLACE``: re-running is harmless)."""
    if engine == "postgres":
        s = f'"{schema}"'
        return [
            f"CREATE OR REPLACE FUNCTION {s}.order_total(a integer, b integer) RETURNS integer"
            " LANGUAGE sql IMMUTABLE AS 'SELECT a + b'",
            f"COMMENT ON FUNCTION {s}.order_total(integer, integer) IS 'sum of two amounts'",
            f"CREATE OR REPLACE FUNCTION {s}.order_total(a numeric, b numeric DEFAULT 0)"
            " RETURNS numeric LANGUAGE sql STABLE AS 'SELECT a + b'",
            f"CREATE OR REPLACE FUNCTION {s}.label(x text) RETURNS text LANGUAGE plpgsql"
            " AS $$ BEGIN RETURN upper(x); END $$",
            f"CREATE OR REPLACE PROCEDURE {s}.refresh_totals() LANGUAGE plpgsql"
            " AS $$ BEGIN PERFORM 1; END $$",
            f"COMMENT ON PROCEDURE {s}.refresh_totals() IS 'recompute the totals'",
            f"CREATE OR REPLACE PROCEDURE {s}.archive(days integer) LANGUAGE sql AS 'SELECT 1'",
        ]
    if engine == "mariadb":
        s = f"`{schema}`"
        return [
            f"CREATE OR REPLACE FUNCTION {s}.order_total(a INT, b INT) RETURNS INT DETERMINISTIC"
            " COMMENT 'sum of two amounts' RETURN a + b",
            f"CREATE OR REPLACE FUNCTION {s}.order_net(a DECIMAL(10,2), rate DECIMAL(4,2))"
            " RETURNS DECIMAL(10,2) DETERMINISTIC RETURN a * (1 - rate)",
            f"CREATE OR REPLACE FUNCTION {s}.label(x VARCHAR(64)) RETURNS VARCHAR(64)"
            " NO SQL RETURN upper(x)",
            f"CREATE OR REPLACE PROCEDURE {s}.refresh_totals() COMMENT 'recompute the totals'"
            " SELECT 1",
            f"CREATE OR REPLACE PROCEDURE {s}.archive(IN days INT, OUT moved INT)"
            " SELECT days INTO moved",
        ]
    return []


def ddl_for_schema(engine: str, size: CatalogSize, index: int, seed: int = 0) -> list[str]:
    """The statements that create schema ``index`` on ``engine`` (no trailing semicolons)."""
    if engine not in _ENGINES:
        raise ValueError(f"unknown engine {engine!r}")
    spec = schema_spec(size, index, seed)
    schema = size.schema_name(engine, index)
    out: list[str] = []
    if engine == "postgres":
        out.append(f'CREATE SCHEMA "{schema}"')
        out.append(f"COMMENT ON SCHEMA \"{schema}\" IS 'benchmark schema {index}'")
    elif engine == "mariadb":
        out.append(f"CREATE DATABASE `{schema}` CHARACTER SET utf8mb4")
    for t in spec.tables:
        out.append(_create_table(engine, schema, t, size))
        if engine == "postgres":
            target = f'"{schema}"."{t.name}"'
            if t.comment:
                out.append(f"COMMENT ON TABLE {target} IS {_lit(t.comment)}")
            out.extend(
                f'COMMENT ON COLUMN {target}."{c.name}" IS {_lit(c.comment)}'
                for c in t.columns
                if c.comment
            )
    for v in spec.views:
        out.append(_create_view(engine, schema, v))
        if engine == "postgres" and v.comment:
            out.append(f'COMMENT ON VIEW "{schema}"."{v.name}" IS {_lit(v.comment)}')
    out.extend(_varied_views(engine, size, index, spec))
    if engine == "postgres":
        out.extend(_postgres_extras(schema))
    out.extend(routine_ddl(engine, schema))
    return out


def expected_counts(engine: str, size: CatalogSize) -> dict[str, int]:
    """Tables (every non-view kind, partitions included) and views the catalog holds."""
    views = min(3, size.tables) + 3  # + _varied_views
    tables = size.tables + (5 if engine == "postgres" else 0)
    views += 1 if engine == "postgres" else 0
    routines = ROUTINES if engine in ("postgres", "mariadb") else 0
    return {
        "schemas": size.schemas,
        "tables": tables * size.schemas,
        "views": views * size.schemas,
        "stored_procedures": routines * size.schemas,
    }


# --- building and dropping -----------------------------------------------------------------

_PG_BATCH = 400  # statements per round trip while building
PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
MARIA = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


async def build_postgres(size: CatalogSize, seed: int = 0) -> float:
    """(Re)create the catalog's database; one round trip per schema. Returns seconds."""
    import time

    import asyncpg

    start = time.perf_counter()
    admin = await asyncpg.connect(database="postgres", timeout=10, **PG)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{size.database}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{size.database}"')
    finally:
        await admin.close()
    # Sequential on purpose: a schema's cross-schema FKs need the previous schema to exist.
    conn = await asyncpg.connect(database=size.database, timeout=10, **PG)
    try:
        for i in range(size.schemas):
            ddl = ddl_for_schema("postgres", size, i, seed)
            # One batch is one transaction: its locks (several per table) must fit the
            # server's shared lock table, so a large schema goes in slices of statements.
            for first in range(0, len(ddl), _PG_BATCH):
                await conn.execute(";\n".join(ddl[first : first + _PG_BATCH]))
    finally:
        await conn.close()
    return time.perf_counter() - start


def _maria(**extra: object):  # type: ignore[no-untyped-def]
    import pymysql
    from pymysql.constants import CLIENT

    return pymysql.connect(
        **MARIA,
        charset="utf8mb4",
        autocommit=True,
        client_flag=CLIENT.MULTI_STATEMENTS,
        connect_timeout=10,
        **extra,  # type: ignore[arg-type]
    )


def build_mariadb(size: CatalogSize, seed: int = 0) -> float:
    """(Re)create the catalog's schemas and the benchmark user. Returns seconds."""
    import time

    start = time.perf_counter()
    drop_mariadb(size)
    conn = _maria()
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION foreign_key_checks = 0")  # cross-schema FKs in any order
            for i in range(size.schemas):
                cur.execute(";\n".join(ddl_for_schema("mariadb", size, i, seed)))
                while cur.nextset():
                    pass
            cur.execute(f"CREATE USER IF NOT EXISTS '{BENCH_USER}'@'127.0.0.1'")
            # EXECUTE: MariaDB lists a routine in information_schema.ROUTINES only to a user
            # with a privilege on it (its body only to its definer or a reader of mysql.proc)
            grant = (
                f"GRANT SELECT, SHOW VIEW, EXECUTE ON `mi\\_bench\\_%`.*"
                f" TO '{BENCH_USER}'@'127.0.0.1'"
            )
            cur.execute(grant)
    finally:
        conn.close()
    return time.perf_counter() - start


def build_sqlite(size: CatalogSize, directory: str, seed: int = 0) -> float:
    """Write one SQLite file per schema under ``directory``/``<database>``. Returns seconds."""
    import shutil
    import sqlite3
    import time
    from pathlib import Path

    start = time.perf_counter()
    root = Path(directory) / size.database
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for i in range(size.schemas):
        conn = sqlite3.connect(root / f"{size.schema_name('sqlite', i)}.sqlite")
        try:
            conn.executescript(";\n".join(ddl_for_schema("sqlite", size, i, seed)) + ";")
        finally:
            conn.close()
    return time.perf_counter() - start


async def drop_postgres(size: CatalogSize | None = None) -> list[str]:
    """Drop this catalog's database, or every ``mi_bench_*`` database."""
    import asyncpg

    admin = await asyncpg.connect(database="postgres", timeout=10, **PG)
    try:
        if size is not None:
            names = [size.database]
        else:
            rows = await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE 'mi\\_bench\\_%'"
            )
            names = [r["datname"] for r in rows]
        for name in names:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return names
    finally:
        await admin.close()


def drop_mariadb(size: CatalogSize | None = None, user: bool = False) -> list[str]:
    """Drop this catalog's schemas, or every ``mi_bench_*`` one (and the user)."""
    pattern = (PREFIX + (size.tag + "_s" if size else "")).replace("_", "\\_") + "%"
    conn = _maria()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE %s",
                (pattern,),
            )
            names = [row[0] for row in cur.fetchall()]
            cur.execute("SET SESSION foreign_key_checks = 0")
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            if user:
                cur.execute(f"DROP USER IF EXISTS '{BENCH_USER}'@'127.0.0.1'")
        return names
    finally:
        conn.close()
