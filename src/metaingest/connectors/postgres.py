"""PostgreSQL through asyncpg: discovery and per-schema extraction from ``pg_catalog``.

Every connection — discovery's and the units' — comes from one ``KeyedPool`` keyed by
database name, so ``threads`` caps the source connections across all databases. A schema is
read with three catalog queries (relations, columns, constraints; ``sql/postgres.sql``), and
a fourth for its functions and procedures (``include_stored_procedures``), in one read-only
REPEATABLE READ transaction, so that they all see the same catalog snapshot. Owners are
read by the same queries and kept only with ``include_owners``.

The queries take an array of schema names: small schemas of one database are read several
to a round (``extract_group``; discovery learns each schema's size), each still its own
unit for the runner (``metaingest.connectors.grouping``).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import lru_cache, partial
from typing import Any, Self

from metaingest import cooperative
from metaingest.config import PostgresSource
from metaingest.entities import (
    ConstraintType,
    Database,
    DatabaseSchema,
    DataType,
    Table,
    TableType,
    build_fqn,
)
from metaingest.errors import MissingDependencyError, SourceError
from metaingest.lineage.parse import Relation
from metaingest.lineage.resolve import Dependencies, attach_lineage
from metaingest.redact import Redactor
from metaingest.report import Issue
from metaingest.retry import ConnectionLost

from .base import SchemaBatch, Unit, build_isolated, table_fqn
from .pg_group import SchemaRows, split_rows
from .pool import KeyedPool
from .routines_postgres import build_routines
from .sql import queries
from .sqltext import view_query
from .types import postgres_data_type, postgres_typmod

__all__ = ["PostgresConnector"]

# Below the pool's own close deadline, so that a stuck close still falls back to terminate().
_CLOSE_TIMEOUT = 2.0

# How much one round of catalog queries carries, in relations plus their columns: schemas
# smaller than this are read several to a round (``metaingest.connectors.grouping``). 1000:
# twenty schemas of a dozen small relations (the 1000-schema benchmark's); a schema the size
# of the standard benchmark's (50 tables of 12 columns, and views: 701) is read alone.
# Measured against 150, 500, 1500, 4000 and 10000: benchmarks/README.md, "Multi-tenant".
GROUP_BUDGET = 1000

_TABLE_TYPES = {
    "r": TableType.Regular,
    "p": TableType.Partitioned,
    "v": TableType.View,
    "m": TableType.MaterializedView,
    "f": TableType.Foreign,
}
_STRATEGIES = {"r": "RANGE", "l": "LIST", "h": "HASH"}
_IDENTITIES = {"a": "ALWAYS", "d": "BY DEFAULT"}
_CONSTRAINT_TYPES = {
    "p": ConstraintType.PRIMARY_KEY,
    "u": ConstraintType.UNIQUE,
    "f": ConstraintType.FOREIGN_KEY,
    "i": ConstraintType.UNIQUE,  # a unique index that backs no constraint
}

_Row = Mapping[str, Any]
_Column = tuple[Any, ...]  # a columns row's values, in ``COLUMNS_ROW`` order

# Every setting that changes the text the catalog functions print, pinned so that the output
# depends on the catalog only, not on the role's or database's defaults (ALTER ROLE ... SET):
# timestamptz partition bounds and defaults (TimeZone), dates (DateStyle), intervals,
# floats, money, bytea, string literals and quoting. An empty search_path makes
# pg_get_viewdef, format_type and pg_get_expr qualify every name outside pg_catalog
# (``FROM public.t``, never a bare ``t`` that a reader would resolve in another schema).
SESSION_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "lc_monetary": "C",
    "bytea_output": "hex",
    "standard_conforming_strings": "on",
    "quote_all_identifiers": "off",
    "search_path": "",
}


def _import_asyncpg() -> Any:
    try:
        import asyncpg
    except ImportError:
        raise MissingDependencyError("asyncpg", "postgres") from None
    return asyncpg


class PostgresConnector:
    """Reads databases, schemas and tables of one PostgreSQL server."""

    def __init__(self, source: PostgresSource) -> None:
        self._asyncpg = _import_asyncpg()
        self.source = source
        self.service_name = source.service_name
        self._sql = queries("postgres")
        # (database, schema) -> its relations plus their columns, as discovery counted them
        self._sizes: dict[tuple[str, str], int] = {}
        self.group_budget = GROUP_BUDGET
        self._pool: KeyedPool[str, Any] = KeyedPool(
            self._open, _close, size=source.threads, alive=_alive
        )
        # what a failed connect or discovery query may raise; anything else is a bug
        self._source_errors: tuple[type[BaseException], ...] = (
            OSError,
            self._asyncpg.PostgresError,
            self._asyncpg.InterfaceError,
            self._asyncpg.InternalClientError,
            ConnectionLost,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _open(self, database: str) -> Any:
        source = self.source
        try:
            connection = await self._asyncpg.connect(
                host=source.host,
                port=source.port,
                user=source.username,
                password=self._password(),
                database=database,
                timeout=source.connect_timeout,
                server_settings=self._server_settings(),
            )
        except self._source_errors as exc:
            raise self._source_error(database, exc) from exc
        _bound_reads(connection)
        return connection

    def _server_settings(self) -> dict[str, str]:
        settings = {
            "application_name": self.source.application_name,
            # The catalog queries read little, through indexes, but the planner's estimates for
            # their recursive CTEs run high enough to JIT-compile them (~50 ms a query); and
            # their plans do not depend on the schema name, so each connection plans a query
            # once instead of for its first five executions (~1.5 ms each).
            "jit": "off",
            "plan_cache_mode": "force_generic_plan",
            **SESSION_SETTINGS,
        }
        if self.source.lock_timeout is not None:
            # a lock held elsewhere (LOCK TABLE ... ACCESS EXCLUSIVE) fails the query (55P03,
            # retried) instead of blocking the unit for as long as the lock is held
            settings["lock_timeout"] = str(max(1, round(self.source.lock_timeout * 1000)))
        if self.source.statement_timeout is not None:
            # in ms, at least 1: 0 would mean "no timeout"
            settings["statement_timeout"] = str(max(1, round(self.source.statement_timeout * 1000)))
        return settings

    def _password(self) -> str | None:
        password = self.source.password
        return password.get_secret_value() if password is not None else None

    def _source_error(self, database: str, exc: BaseException) -> SourceError:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            cause = f"no connection within {self.source.connect_timeout:g}s"
        elif isinstance(exc, OSError) and isinstance(exc.errno, int) and exc.errno > 0:
            cause = os.strerror(exc.errno)  # asyncio's text ("Connect call failed") hides it
        cause = Redactor.for_source(self.source)(cause)
        source = self.source
        return SourceError(
            f"PostgreSQL at {source.host}:{source.port}, database {database!r}: {cause}"
        )

    @asynccontextmanager
    async def _discovery(self, database: str) -> AsyncIterator[Any]:
        """A pooled connection whose failures are fatal for the run (SourceError)."""
        try:
            async with self._pool.acquire(database) as connection:
                yield connection
        except self._source_errors as exc:
            raise self._source_error(database, exc) from exc

    async def list_databases(self) -> list[Database]:
        """The configured database(s), or every connectable non-template database."""
        source = self.source
        named = [source.database] if source.database is not None else source.databases
        if named is None:
            async with self._discovery(source.maintenance_database) as connection:
                rows = await connection.fetch(self._sql["databases"])
        elif not named:
            return []
        else:
            async with self._discovery(named[0]) as connection:
                rows = await connection.fetch(self._sql["named_databases"], named)
            missing = sorted(set(named) - {row["name"] for row in rows})
            if missing:
                cause = f"database {missing[0]!r} does not exist"
                raise self._source_error(missing[0], LookupError(cause))
        owners = self.source.include_owners
        return [
            Database(
                name=row["name"],
                service=self.service_name,
                description=row["description"],
                owner=row["owner"] if owners else None,
            )
            for row in rows
        ]

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        """Every schema of ``database``, system schemas included (the workflow filters)."""
        async with self._discovery(database.name) as connection:
            rows = await connection.fetch(self._sql["schemas"])
        owners = self.source.include_owners
        self._sizes.update(((database.name, row["name"]), row["size"]) for row in rows)
        return [
            DatabaseSchema(
                name=row["name"],
                database=database.fqn,
                description=row["description"],
                owner=row["owner"] if owners else None,
            )
            for row in rows
        ]

    def connection(self, database: Database) -> AbstractAsyncContextManager[Any]:
        """Lend one pooled connection to ``database``."""
        return self._pool.acquire(database.name)

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        """Read one schema: a group of one (``extract_group``)."""
        (batch,) = await self.extract_group((unit,), connection)
        return batch

    def group_size(self, unit: Unit) -> int | None:
        """The schema's relations plus their columns, as discovery counted them."""
        return self._sizes.get((unit.database.name, unit.schema.name))

    async def extract_group(self, units: Sequence[Unit], connection: Any) -> list[SchemaBatch]:
        """Read schemas of one database in one round: three catalog queries (one more for
        routines, one more when a schema has views: their dependency records) whatever the
        number of schemas, then each schema's views' lineage.

        The queries run in one read-only REPEATABLE READ transaction, so every row of every
        schema comes from the same catalog snapshot: a table dropped between the relations
        and the columns query cannot come out without its columns. One snapshot per group
        keeps that for each schema exactly as when it is read alone. The rows are split per
        schema and each schema's batch is built from its own rows only, so a schema comes out
        the same whether it was read alone or in a group.
        """
        names = [unit.schema.name for unit in units]
        parts = await self._fetch_round(names, connection)
        return [await self._batch(unit, parts[unit.schema.name], connection) for unit in units]

    async def _fetch_round(self, names: list[str], connection: Any) -> dict[str, SchemaRows]:
        source = self.source
        routines: list[_Row] = []
        depends: list[_Row] = []
        async with connection.transaction(isolation="repeatable_read", readonly=True):
            relations = await connection.fetch(self._sql["relations"], names)
            columns = await connection.fetch(self._sql["columns"], names)
            constraints = await connection.fetch(self._sql["constraints"], names)
            if source.include_lineage and any(r["kind"] in "vm" for r in relations):
                depends = await connection.fetch(self._sql["view_dependencies"], names)
            if source.include_stored_procedures:
                routines = await connection.fetch(self._sql["routines"], names)
        return await split_rows(names, relations, columns, constraints, depends, routines)

    async def _batch(self, unit: Unit, rows: SchemaRows, connection: Any) -> SchemaBatch:
        """One schema's batch from its rows (which are released as they are used)."""
        source = self.source
        tables, issues = await build_tables(
            self.service_name,
            unit.database.name,
            unit.schema,
            rows.relations,
            rows.columns,
            rows.constraints,
            owners=source.include_owners,
        )
        procedures = build_routines(unit.schema.fqn, rows.routines, source.include_owners)
        discovered = len(rows.relations)
        lineage = source.include_lineage and any(r["kind"] in "vm" for r in rows.relations)
        # build_tables consumed the column and constraint rows; the rest freed in slices
        for part in (rows.relations, rows.routines):
            await cooperative.release(part)
        batch = SchemaBatch(
            unit.database,
            unit.schema,
            tables,
            issues,
            discovered=discovered,
            procedures=procedures,
        )
        if not lineage:
            return batch
        return await attach_lineage(
            batch,
            dialect="postgres",
            catalog=unit.database.name,
            fetch=partial(
                self._relation_columns, connection, unit.database, _outside(rows.depends)
            ),
            dependencies=view_dependencies(unit, rows.depends),
        )

    async def _relation_columns(
        self,
        connection: Any,
        database: Database,
        known: Mapping[tuple[str, str], Sequence[str]],
        keys: Sequence[tuple[str, str, str]],
    ) -> list[Relation]:
        """Columns of relations that views read outside their schema: those the dependency
        records brought (``known``, normally all of them), the rest in one query."""
        here = [(db, name) for catalog, db, name in keys if catalog == database.name]
        grouped: dict[tuple[str, str], Sequence[str]] = {k: known[k] for k in here if k in known}
        missing = [k for k in here if k not in known]
        if missing:
            rows = await connection.fetch(
                self._sql["relation_columns"], [k[0] for k in missing], [k[1] for k in missing]
            )
            fetched: dict[tuple[str, str], list[str]] = defaultdict(list)
            for row in rows:
                fetched[(row["schema_name"], row["name"])].append(row["column_name"])
            grouped.update(fetched)
        return [
            Relation(
                build_fqn(database.service, database.name, schema, name),
                database.name,
                schema,
                name,
                tuple(cols),
            )
            for (schema, name), cols in grouped.items()
        ]

    def peak_connections(self) -> int:
        """The most connections the pool held open at once."""
        return self._pool.statistics().peak_open

    async def aclose(self) -> None:
        """Close the pool; lent connections close as they come back. Idempotent."""
        await self._pool.aclose()  # the pool's own aclose is idempotent

    async def server_version(self) -> str:
        """The server's version string; connects as discovery would."""
        source = self.source
        named = [source.database] if source.database is not None else source.databases
        database = named[0] if named else source.maintenance_database
        async with self._discovery(database) as connection:
            return "PostgreSQL " + str(await connection.fetchval(self._sql["server_version"]))

    async def probe(self, unit: Unit, connection: Any) -> None:
        """Check with one cheap query that the schema's catalog can be read."""
        if await connection.fetchval(self._sql["probe"], unit.schema.name) is None:
            raise LookupError(f"schema {unit.schema.name!r} not found")


def _outside(rows: Iterable[_Row]) -> dict[tuple[str, str], Sequence[str]]:
    """(schema, name) -> columns of each relation outside the schema its views read."""
    return {
        (row["ref_schema"], row["ref_name"]): row["ref_columns"]
        for row in rows
        if row["ref_columns"] is not None
    }


def view_dependencies(unit: Unit, rows: Iterable[_Row]) -> dict[str, Dependencies]:
    """The server's dependency records per view FQN: relations and columns, as FQNs."""
    service, database = unit.database.service, unit.database.name
    relations: dict[str, set[str]] = defaultdict(set)
    columns: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        view = table_fqn(unit.schema.fqn, row["view_name"])
        ref = build_fqn(service, database, row["ref_schema"], row["ref_name"])
        relations[view].add(ref)
        if row["ref_column"] is not None:
            columns[view].add(table_fqn(ref, row["ref_column"]))
    return {
        view: Dependencies(frozenset(refs), frozenset(columns[view]))
        for view, refs in relations.items()
    }


# the most bytes one socket read hands asyncpg (asyncio's selector transports read 256 KiB)
READ_SIZE = 32 * 1024


def _bound_reads(connection: Any) -> None:
    """Cap how much of a result asyncpg decodes in one event-loop callback.

    asyncpg decodes every complete row of a socket read in the callback that received it:
    a 256 KiB read of column rows is about 2,500 records, several milliseconds during which
    the host's loop runs nothing else. asyncio's selector transports read ``max_size`` bytes
    at a time (an instance attribute, read on every read); at 32 KiB a callback decodes about
    300 rows and the next read waits for the next loop pass. Other transports (uvloop's) have
    no such attribute and are left as they are.
    """
    transport = getattr(connection, "_transport", None)
    if transport is not None and isinstance(getattr(transport, "max_size", None), int):
        transport.max_size = READ_SIZE


async def _alive(connection: Any) -> bool:
    """Whether a connection that saw an error can still run a query (it is dropped anyway)."""
    if connection.is_closed():
        return False
    await connection.execute("SELECT 1")
    return True


async def _close(connection: Any) -> None:
    """Close gracefully; if the server does not answer in time, drop the socket."""
    try:
        await connection.close(timeout=_CLOSE_TIMEOUT)
    except Exception:
        connection.terminate()


# Rows handled between two checkpoints while grouping (~1-2 ms of work on a loaded machine).
_GROUP_CHUNK = 256


async def _group(rows: list[_Row]) -> dict[int, list[_Row]]:
    """Rows by relation id, in their order; ``rows`` is emptied."""
    grouped: dict[int, list[_Row]] = defaultdict(list)
    async for chunk in cooperative.chunks(rows, _GROUP_CHUNK):
        for row in chunk:
            grouped[row["relid"]].append(row)
    rows.clear()  # cheap: every row is still referenced from ``grouped``
    return grouped


async def _group_columns(rows: list[_Row]) -> dict[int, list[_Column]]:
    """Column rows by relation id as tuples (see ``COLUMNS_ROW``); ``rows`` is emptied.

    A driver's record stays tracked by the garbage collector for as long as it lives; a
    tuple of atomic values, as a column row is, is untracked at its first collection. A
    10,000-table schema has 120,000 column rows: as records they would be walked by every
    full collection until the schema is built. Each chunk's records are freed as soon as
    they are converted, a chunk at a time.
    """
    grouped: dict[int, list[_Column]] = defaultdict(list)
    for start in range(0, len(rows), _GROUP_CHUNK):
        await cooperative.checkpoint()
        end = start + _GROUP_CHUNK
        chunk = rows[start:end]
        rows[start:end] = [None] * len(chunk)  # type: ignore[list-item]  # the chunk's last ref
        for row in chunk:
            values = tuple(row.values())
            grouped[values[0]].append(values)
        del chunk
    rows.clear()
    return grouped


async def build_tables(
    service: str,
    database: str,
    schema: DatabaseSchema,
    relations: Sequence[_Row],
    columns: list[_Row],
    constraints: list[_Row],
    owners: bool = False,
) -> tuple[tuple[Table, ...], tuple[Issue, ...]]:
    """Tables of one schema, in name order, from the rows of the three catalog queries.

    The column and constraint rows are consumed: ``columns`` and ``constraints`` end empty,
    and each relation's rows are freed once its table is built.
    A relation whose rows cannot be turned into an entity is left out and reported as an
    error issue with its FQN; the other relations are still returned.
    """
    columns_of = await _group_columns(columns)
    constraints_of = await _group(constraints)
    schema_fqn = schema.fqn
    tables = []
    issues: list[Issue] = []
    for relation in relations:
        await cooperative.checkpoint()
        relid = relation["relid"]
        table = build_isolated(
            table_fqn(schema_fqn, relation["name"]),
            partial(
                _table,
                service,
                database,
                schema_fqn,
                relation,
                columns_of.pop(relid, []),
                constraints_of.pop(relid, []),
                owners,
            ),
            issues,
        )
        if table is not None:
            tables.append(table)
    return tuple(await cooperative.sort(tables, key=_name)), tuple(issues)


def _name(table: Table) -> str:
    return table.name


def _table(
    service: str,
    database: str,
    schema_fqn: str,
    relation: _Row,
    columns: Sequence[_Column],
    constraints_rows: Sequence[_Row],
    owners: bool = False,
) -> Table:
    parent = None
    if relation["parent_name"] is not None:
        parent = build_fqn(service, database, relation["parent_schema"], relation["parent_name"])
    partitioning = None
    if relation["partition_strategy"] is not None:
        partitioning = {
            "strategy": _STRATEGIES.get(relation["partition_strategy"], "UNKNOWN"),
            "columns": relation["partition_columns"],
            "expression": relation["partition_key"],
        }
    definition = relation["view_definition"]
    constraints: list[dict[str, Any]] = []
    unique_indexes: list[dict[str, Any]] = []
    for row in constraints_rows:
        if row["kind"] == "i" and (row["expressions"] or row["predicate"] is not None):
            unique_indexes.append(_unique_index_fields(row))
        else:
            constraints.append(_constraint_fields(service, database, row))
    # columns, constraints and partitioning as field dicts, validated into entities by the
    # table's own validation: one call into pydantic per table, not one per part
    return Table.model_validate(
        {
            "name": relation["name"],
            "database_schema": schema_fqn,
            "table_type": _TABLE_TYPES[relation["kind"]],
            "description": relation["description"],
            # the rows come in attnum order: ordinal positions count the live columns 1..n
            "columns": [_column_fields(row, position) for position, row in enumerate(columns, 1)],
            "constraints": constraints,
            "view_definition": view_query(definition),
            "partitioning": partitioning,
            "partition_of": parent,
            "partition_bound": relation["partition_bound"],
            "owner": relation["owner"] if owners else None,
            "row_estimate": relation["row_estimate"],
            "size_bytes": relation["size_bytes"],
            "unique_indexes": unique_indexes or None,
        }
    )


# The columns query's result columns, in its order: a row is unpacked by position (13 lookups
# by name were a third of the time spent on a column here). tests/test_postgres_catalog.py
# checks this against the query.
COLUMNS_ROW = (
    "relid",
    "name",
    "display",
    "base_type",
    "base_kind",
    "element_type",
    "element_kind",
    "typmod",
    "not_null",
    "default_value",
    "generated",
    "identity",
    "description",
)


def _column_fields(row: _Column, position: int) -> dict[str, Any]:
    """The fields of one Column, from a row of the columns query (see ``COLUMNS_ROW``)."""
    (
        _relid,
        name,
        display,
        base_type,
        base_kind,
        element_type,
        element_kind,
        typmod,
        not_null,
        default,
        generated,
        identity,
        description,
    ) = row
    data_type, array_type, (length, precision, scale) = _column_type(
        base_kind, base_type, element_kind, element_type, typmod
    )
    return {
        "name": name,
        "ordinal_position": position,
        "data_type": data_type,
        "data_type_display": display,
        "data_length": length,
        "precision": precision,
        "scale": scale,
        "array_data_type": array_type,
        "nullable": not not_null,
        "default": default,
        "generated": generated,
        "identity": _IDENTITIES.get(identity),
        "description": description,
    }


@lru_cache(maxsize=4096)
def _column_type(
    base_kind: str | None,
    base_type: str,
    element_kind: str | None,
    element_type: str | None,
    typmod: int,
) -> tuple[DataType, DataType | None, tuple[int | None, int | None, int | None]]:
    """(data_type, array_data_type, (length, precision, scale)): a pure function of the
    column's type, of which a schema has few distinct ones, so cached."""
    if element_type is not None:  # the type modifier of an array column belongs to its elements
        array_type = postgres_data_type(element_kind, element_type)
        return DataType.ARRAY, array_type, postgres_typmod(element_type, typmod)
    return postgres_data_type(base_kind, base_type), None, postgres_typmod(base_type, typmod)


def _constraint_fields(service: str, database: str, row: _Row) -> dict[str, Any]:
    """The fields of one TableConstraint, from a row of the constraints query.

    A row of kind 'i' is a unique index on columns only, not partial, that backs no
    constraint: a UNIQUE constraint named after the index, marked ``from_index``.
    """
    fields = {
        "constraint_type": _CONSTRAINT_TYPES[row["kind"]],
        "columns": row["columns"],
        "name": row["name"],
    }
    if row["kind"] == "i":
        fields["from_index"] = True
    if row["referred_table"] is not None:
        fields["referred_table"] = build_fqn(
            service, database, row["referred_schema"], row["referred_table"]
        )
        fields["referred_columns"] = row["referred_columns"]
    return fields


def _unique_index_fields(row: _Row) -> dict[str, Any]:
    """The fields of one UniqueIndex (partial, or with expression parts), from a row of kind 'i'."""
    return {
        "name": row["name"],
        "columns": row["columns"],
        "expressions": row["expressions"],
        "predicate": row["predicate"],
    }
