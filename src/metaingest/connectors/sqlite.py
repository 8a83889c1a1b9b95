"""SQLite through the standard library's sqlite3, offloaded to worker threads.

sqlite3 is synchronous, so every call — connect, extract, close — runs in
``anyio.to_thread.run_sync`` under a ``CapacityLimiter(threads)``. A running unit holds one
dedicated sqlite3 connection (read-only, with the configured files attached) in its worker
thread for the whole extraction, as OpenMetadata's multithreading mode does with its
per-thread connections. Schemas are ``main`` plus the attached databases.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Self, TypeVar
from urllib.parse import quote

import anyio
from sqlalchemy.dialects.sqlite import dialect as _sqlite_dialect

from metaingest.config import SqliteSource
from metaingest.connectors.base import SchemaBatch, Unit, build_isolated, table_fqn
from metaingest.connectors.lease import Lease
from metaingest.connectors.pool import KeyedPool
from metaingest.connectors.sql import queries
from metaingest.connectors.sqltext import TableText, index_parts, table_text, view_query
from metaingest.connectors.types import SQLITE, base_name, sqlite_affinity
from metaingest.entities import (
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DataType,
    Table,
    TableConstraint,
    TableType,
    UniqueIndex,
    quote_name,
)
from metaingest.errors import SourceError
from metaingest.lineage.parse import Relation
from metaingest.lineage.resolve import attach_lineage
from metaingest.report import Issue

__all__ = ["SqliteConnector"]

T = TypeVar("T")

_QUOTE = _sqlite_dialect().identifier_preparer.quote_identifier
_SQL = queries("sqlite")
_ARGS = re.compile(r"\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)")
_LENGTH_TYPES = frozenset({DataType.CHAR, DataType.VARCHAR, DataType.BINARY, DataType.VARBINARY})
_NUMERIC_TYPES = frozenset({DataType.DECIMAL, DataType.NUMERIC})


def _uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


class SqliteConnector:
    """Reads the catalog of a SQLite file and its attached files."""

    def __init__(self, source: SqliteSource) -> None:
        self.service_name = source.service_name
        self._source = source
        self._limiter = anyio.CapacityLimiter(source.threads)
        self._pool: KeyedPool[str, sqlite3.Connection] = KeyedPool(
            self._open, self._close, size=source.threads
        )
        self._abandoned: set[int] = set()  # ids of connections their worker thread closes

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _open(self, _database: str) -> sqlite3.Connection:
        return await anyio.to_thread.run_sync(self._connect, limiter=self._limiter)

    def _connect(self) -> sqlite3.Connection:
        files = [("main", self._source.path), *self._source.attach.items()]
        for _name, path in files:
            if not path.is_file():
                raise SourceError(f"sqlite: {path}: no such database file")
        conn = None
        try:
            for name, path in files:
                if conn is None:
                    conn = sqlite3.connect(
                        _uri(path),
                        uri=True,
                        check_same_thread=False,  # one unit at a time, not always on one thread
                        timeout=self._source.connect_timeout,
                    )
                    conn.execute(
                        "SELECT count(*) FROM sqlite_master"
                    ).fetchone()  # reads the header
                else:  # ATTACH reads the header itself
                    conn.execute("ATTACH DATABASE ? AS ?", (_uri(path), name))
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise SourceError(f"sqlite: {path}: {exc}") from None
        assert conn is not None
        return conn

    async def _close(self, conn: sqlite3.Connection) -> None:
        if id(conn) in self._abandoned:  # a worker still in a call closes it when it returns
            self._abandoned.discard(id(conn))
            return
        await anyio.to_thread.run_sync(conn.close, limiter=self._limiter)

    def _database(self) -> Database:
        name = self._source.database or self._source.path.stem
        return Database(name=name, service=self.service_name)

    async def list_databases(self) -> list[Database]:
        """The one database: the main file (attached files are its schemas)."""
        database = self._database()
        async with self._pool.acquire(database.name):
            pass  # opening a connection proves every file is there and readable
        return [database]

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        """``main`` and every attached database."""
        async with self._pool.acquire(database.name) as conn:
            rows = await anyio.to_thread.run_sync(
                lambda: conn.execute("PRAGMA database_list").fetchall(), limiter=self._limiter
            )
        return [
            DatabaseSchema(name=row[1], database=database.fqn) for row in rows if row[1] != "temp"
        ]

    def connection(self, database: Database) -> AbstractAsyncContextManager[sqlite3.Connection]:
        """Lend one dedicated sqlite3 connection."""
        return self._pool.acquire(database.name)

    async def extract(self, unit: Unit, connection: sqlite3.Connection) -> SchemaBatch:
        """Extract one schema in a worker thread with four catalog queries (and, for views'
        lineage, one more per other schema they read).

        A unit cancelled or timed out meanwhile abandons the thread: sqlite3's
        ``interrupt()`` ends the running query, and the thread closes the connection.
        """
        lease = Lease(connection, connection.close)

        async def on_connection(function: Callable[..., T], *args: Any) -> T:
            try:
                return await anyio.to_thread.run_sync(
                    lease.run, function, *args, limiter=self._limiter, abandon_on_cancel=True
                )
            except BaseException:
                if lease.abandon():
                    self._abandoned.add(id(connection))
                raise

        batch = await on_connection(_extract, connection, unit)
        if not self._source.include_lineage:
            return batch

        async def fetch(keys: Sequence[tuple[str, str, str]]) -> list[Relation]:
            return await on_connection(_relations, connection, unit, keys)

        return await attach_lineage(batch, dialect="sqlite", catalog=None, fetch=fetch)

    def peak_connections(self) -> int:
        """The most sqlite3 connections open at once."""
        return self._pool.statistics().peak_open

    async def aclose(self) -> None:
        """Close every connection."""
        await self._pool.aclose()

    async def server_version(self) -> str:
        """The SQLite library's version; opens the files as discovery would."""
        database = self._database()
        async with self._pool.acquire(database.name):
            pass
        return f"SQLite {sqlite3.sqlite_version}"

    async def probe(self, unit: Unit, connection: sqlite3.Connection) -> None:
        """Check with one cheap query that the schema's catalog can be read."""
        await anyio.to_thread.run_sync(
            _fetch, connection, "probe", unit.schema.name, limiter=self._limiter
        )


def _fetch(conn: sqlite3.Connection, name: str, schema: str, *args: Any, only: str = "") -> Any:
    sql = _SQL[name].replace("{schema}", _QUOTE(schema)).replace("{only}", only)
    return conn.execute(sql, args).fetchall()


def _extract(conn: sqlite3.Connection, unit: Unit) -> SchemaBatch:
    schema = unit.schema.name
    schema_fqn = unit.schema.fqn
    objects = _fetch(conn, "objects", schema)
    issues: list[Issue] = []
    try:
        column_rows = _fetch(conn, "columns", schema, schema)
    except sqlite3.Error:
        # One broken view makes the bulk query fail: take the tables in bulk, then find
        # which views still resolve, one by one (only on this error path).
        column_rows = _fetch(conn, "columns", schema, schema, only="AND m.type = 'table'")
        for name, kind, _sql in objects:
            if kind != "view":
                continue
            try:
                column_rows += _fetch(conn, "columns", schema, schema, name, only="AND m.name = ?")
            except sqlite3.Error as exc:
                issues.append(
                    Issue(level="warning", fqn=table_fqn(schema_fqn, name), message=str(exc))
                )
    columns: dict[str, list[Any]] = defaultdict(list)
    for row in column_rows:
        if row[7] != 1:  # hidden 1: a virtual table's hidden column (2, 3: generated ones)
            columns[row[0]].append(row)
    uniques, keys = _constraint_rows(conn, schema)
    broken = {issue.fqn for issue in issues}
    tables = []
    for name, kind, sql in objects:
        is_view = kind == "view"
        fqn = table_fqn(schema_fqn, name)
        if is_view and fqn in broken:
            continue

        def build(name: str = name, sql: str = sql, is_view: bool = is_view) -> Table:
            rows = columns.get(name, [])
            # lexing the statement only where it can say more than the pragmas
            wanted = (
                not is_view
                and sql is not None
                and ("ROWID" in sql.upper() or any(row[7] in (2, 3) for row in rows))
            )
            text = table_text(sql if wanted else None)
            not_null = _implicit_not_null(rows, text, uniques.get(name, {}))
            return Table(
                name=name,
                database_schema=schema_fqn,
                table_type=TableType.View if is_view else TableType.Regular,
                columns=tuple(
                    _column(row, position, text, not_null) for position, row in enumerate(rows, 1)
                ),
                constraints=_constraints(name, columns, uniques, keys, schema_fqn),
                view_definition=view_query(sql) if is_view else None,
                unique_indexes=_unique_indexes(uniques.get(name, {})),
            )

        table = build_isolated(fqn, build, issues)
        if table is not None:
            tables.append(table)
    return SchemaBatch(
        unit.database, unit.schema, tuple(tables), tuple(issues), discovered=len(objects)
    )


def _relations(
    conn: sqlite3.Connection, unit: Unit, keys: Sequence[tuple[str, str, str]]
) -> list[Relation]:
    """Columns of the relations views read outside their own schema: a query per schema."""
    schemas = {row[1].lower(): row[1] for row in conn.execute("PRAGMA database_list")}
    wanted: dict[str, set[str]] = defaultdict(set)
    for _catalog, db, name in keys:
        if db.lower() in schemas:
            wanted[schemas[db.lower()]].add(name.lower())
    out: list[Relation] = []
    for schema, names in sorted(wanted.items()):
        rows = _fetch(conn, "columns", schema, schema)
        columns: dict[str, list[str]] = defaultdict(list)
        for table, _cid, column, *_rest, hidden in rows:
            if table.lower() in names and hidden != 1:
                columns[table].append(column)
        schema_fqn = table_fqn(unit.database.fqn, schema)  # appends one quoted part
        out.extend(
            Relation(table_fqn(schema_fqn, table), None, schema, table, tuple(cols))
            for table, cols in columns.items()
        )
    return out


def _implicit_not_null(rows: list[Any], text: TableText, indexes: _Indexes) -> frozenset[str]:
    """Key columns that are NOT NULL without saying so.

    In a WITHOUT ROWID table, every primary key column. Otherwise only the rowid alias: a
    single-column ``INTEGER PRIMARY KEY`` — which SQLite gives no index of origin 'pk' (a
    composite key, another type or ``PRIMARY KEY DESC`` gets one and may hold NULLs).
    """
    key = [row[2] for row in rows if row[6]]
    if text.without_rowid:
        return frozenset(key)
    has_key_index = any(rows[0][4] == "pk" for rows in indexes.values())
    if len(key) == 1 and not has_key_index:
        return frozenset(key)
    return frozenset()


def _column(row: Any, position: int, text: TableText, not_null: frozenset[str]) -> Column:
    # SQLite keeps a generation expression only in the CREATE TABLE text (hidden 2: virtual,
    # 3: stored), and an untyped column has the empty type (BLOB affinity).
    _table, _cid, name, declared, notnull, default, _pk, hidden = row
    declared = declared or ""
    data_type = SQLITE.get(base_name(declared)) or sqlite_affinity(declared)
    length = precision = scale = None
    args = _ARGS.search(declared)
    if args:
        first, second = int(args.group(1)), args.group(2)
        if data_type in _LENGTH_TYPES:
            length = first
        elif data_type in _NUMERIC_TYPES:
            precision, scale = first, int(second) if second is not None else 0
    generated = text.generated.get(name.lower()) if hidden in (2, 3) else None
    return Column(
        name=name,
        ordinal_position=position,
        data_type=data_type,
        data_type_display=declared,
        data_length=length,
        precision=precision,
        scale=scale,
        nullable=not (notnull or name in not_null),
        default=default,
        generated=generated,
    )


# index name -> its rows (table, index, seqno, column or None, origin, partial, sql)
_Indexes = dict[str, list[Any]]
_Uniques = dict[str, _Indexes]
_Keys = dict[str, dict[int, list[Any]]]


def _constraint_rows(conn: sqlite3.Connection, schema: str) -> tuple[_Uniques, _Keys]:
    """Unique indexes (table → index → rows) and foreign keys (table → id → rows)."""
    uniques: _Uniques = defaultdict(lambda: defaultdict(list))
    for row in _fetch(conn, "unique_indexes", schema, schema, schema):
        uniques[row[0]][row[1]].append(row)
    keys: _Keys = defaultdict(lambda: defaultdict(list))
    for row in _fetch(conn, "foreign_keys", schema, schema):
        keys[row[0]][row[1]].append(row)
    return uniques, keys


def _primary(rows: list[Any]) -> tuple[str, ...]:
    return tuple(name for _pk, name in sorted((row[6], row[2]) for row in rows if row[6]))


def _constraints(
    table: str, columns: dict[str, list[Any]], uniques: _Uniques, keys: _Keys, schema_fqn: str
) -> tuple[TableConstraint, ...]:
    """One table's constraints: primary key, unique indexes by name, foreign keys by id."""
    out: list[TableConstraint] = []
    primary = _primary(columns.get(table, []))
    if primary:
        out.append(TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=primary))
    for index, rows in sorted(uniques.get(table, {}).items()):
        cols = [row[3] for row in rows]
        origin, partial = rows[0][4], rows[0][5]
        # an expression index has no column name, a partial one holds only where its
        # predicate does: neither is a column constraint (see _unique_indexes)
        if origin != "pk" and all(cols) and not partial:
            out.append(
                TableConstraint(
                    constraint_type=ConstraintType.UNIQUE,
                    columns=tuple(c for c in cols if c),
                    name=None if index.startswith("sqlite_autoindex_") else index,
                    from_index=True if origin == "c" else None,
                )
            )
    for _id, rows in sorted(keys.get(table, {}).items()):
        target = rows[0][3]
        referred = [row[5] for row in rows]
        if any(r is None for r in referred):  # REFERENCES t without columns: t's primary key
            referred = list(_primary(columns.get(target, [])))
        out.append(
            TableConstraint(
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=tuple(row[4] for row in rows),
                referred_table=f"{schema_fqn}.{quote_name(target)}",
                referred_columns=tuple(referred),
            )
        )
    return tuple(out)


def _unique_indexes(indexes: _Indexes) -> tuple[UniqueIndex, ...] | None:
    """The table's unique indexes on expressions or partial (CREATE UNIQUE INDEX only)."""
    out = []
    for index, rows in sorted(indexes.items()):
        columns = tuple(row[3] for row in rows)
        origin, partial, sql = rows[0][4], rows[0][5], rows[0][6]
        if origin != "c" or (all(columns) and not partial):
            continue
        parts, predicate = index_parts(sql)
        expressions = tuple(
            text for (_, text), column in zip(parts, columns, strict=False) if column is None
        )
        out.append(
            UniqueIndex(name=index, columns=columns, expressions=expressions, predicate=predicate)
        )
    return tuple(out) or None
