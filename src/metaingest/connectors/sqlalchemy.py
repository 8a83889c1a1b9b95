"""Any SQLAlchemy URL as a source: async drivers natively, sync drivers in worker threads.

When the URL's dialect is async (``postgresql+asyncpg``, ``sqlite+aiosqlite``) the engine is
an ``AsyncEngine`` and reflection runs through ``AsyncConnection.run_sync``. Otherwise every
call that may block — creating the engine (duckdb-engine queries while it builds its
dialect), connect, reflect, close, dispose — runs in ``anyio.to_thread.run_sync`` under a
``CapacityLimiter(threads)``: a running unit uses its own ``Connection``, only ever from one
worker thread at a time (OpenMetadata's multithreading semantics). Where SQLAlchemy picks a
``QueuePool`` (file URLs of SQLite and DuckDB, every server URL) it is capped at
``pool_size=threads, max_overflow=0``; SQLAlchemy already opens pysqlite file connections
with ``check_same_thread=False`` for that pool, and a DuckDB connection may move between
threads as long as one thread uses it at a time. A unit that times out or is cancelled
abandons its worker thread; the driver's timeouts and interrupts end the blocked call
(``lease``, ``driver_timeouts``).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import PurePath
from typing import Any, TypeVar, cast

import anyio
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.engine.url import URL
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import Pool, QueuePool

from metaingest.config import SqlAlchemySource
from metaingest.entities import Database, DatabaseSchema, Table, build_fqn
from metaingest.errors import ConfigError, ExtractError, MissingDependencyError, SourceError
from metaingest.lineage.parse import Relation
from metaingest.lineage.resolve import attach_lineage

from . import sqlalchemy_duckdb, sqlalchemy_reflect
from .base import SchemaBatch, Unit, table_fqn
from .lease import Lease
from .sqlalchemy_reflect import Reflected, build_tables

__all__ = ["SqlAlchemyConnector"]

T = TypeVar("T")

# Driver modules that one of metaingest's extras installs.
_EXTRAS = {
    "duckdb_engine": "duckdb",
    "duckdb": "duckdb",
    "asyncpg": "postgres",
    "aiomysql": "mysql",
    "pymysql": "mysql",
}
# Dialects that live in a third-party package rather than in SQLAlchemy itself.
_DIALECT_PACKAGES = {"duckdb": "duckdb_engine"}
# Dialects whose URL database part is a file path.
_FILE_DIALECTS = frozenset({"sqlite", "duckdb"})

# SQLAlchemy dialect name -> sqlglot dialect, for views' lineage (others get none)
_SQLGLOT = {
    "postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
}

_Lister = Callable[[Connection], list[tuple[str, str | None]]]
_Reflector = Callable[[Connection, str], Reflected]
# Dialects whose Inspector does not work; they read their own catalog (see the module).
_CATALOGS: dict[str, tuple[_Lister, _Reflector]] = {
    "duckdb": (sqlalchemy_duckdb.list_schemas, sqlalchemy_duckdb.reflect_schema),
}
_INSPECTOR: tuple[_Lister, _Reflector] = (
    sqlalchemy_reflect.list_schemas,
    sqlalchemy_reflect.reflect_schema,
)


def driver_timeouts(url: URL, unit_timeout: float | None) -> dict[str, Any]:
    """``connect_args`` that bound one blocked driver call by ``unit_timeout``, if it can."""
    if unit_timeout is None:
        return {}
    driver = url.get_driver_name()
    if driver == "pymysql":  # socket timeouts of one read / one write, in seconds
        return {"read_timeout": unit_timeout, "write_timeout": unit_timeout}
    if url.get_backend_name() == "sqlite" and driver == "pysqlite":
        return {"timeout": unit_timeout}  # how long to wait for another process's lock
    return {}


def _drop(connection: Connection) -> None:
    """Invalidate and close a connection (in the thread that used it last)."""
    connection.invalidate()
    connection.close()


def resolve_url(raw: str) -> tuple[URL, type[Dialect]]:
    """Parse a URL and load its dialect and driver; errors are one line, password hidden."""
    try:
        url = make_url(raw)
    except ArgumentError:
        raise ConfigError("source.url: not a valid SQLAlchemy URL") from None
    safe = url.render_as_string(hide_password=True)
    backend = url.get_backend_name()
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        package = _DIALECT_PACKAGES.get(backend)
        if package is not None:
            raise MissingDependencyError(package, _EXTRAS[package]) from None
        raise ConfigError(
            f"source.url: unknown SQLAlchemy dialect {url.drivername!r} in {safe}"
        ) from None
    except ImportError as exc:
        raise _missing(exc, url) from None
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        raise _missing(exc, url) from None
    return url, dialect


def _missing(exc: ImportError, url: URL) -> ConfigError:
    module = (exc.name or url.get_driver_name()).split(".")[0]
    extra = _EXTRAS.get(module)
    if extra is not None:
        return MissingDependencyError(module, extra)
    return ConfigError(
        f"source.url: the {module!r} driver for {url.drivername!r} is not installed: "
        f"pip install {module}"
    )


def database_name(url: URL) -> str:
    """The database entity's name: the URL's database, a file URL's stem, else ``default``."""
    database = url.database
    if not database or database == ":memory:":
        return "default"
    if url.get_backend_name() in _FILE_DIALECTS:
        return PurePath(database).stem or "default"
    return database


def cause(exc: BaseException) -> str:
    """One line for a database error: the driver's exception without SQLAlchemy's SQL dump."""
    inner = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(inner).strip().splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


class SqlAlchemyConnector:
    """A source reached through any SQLAlchemy URL; one database entity, many schemas."""

    def __init__(self, source: SqlAlchemySource) -> None:
        self.source = source
        self.service_name = source.service_name
        self.url, self._dialect = resolve_url(source.url.get_secret_value())
        self.safe_url = self.url.render_as_string(hide_password=True)
        self.database_name = source.database or database_name(self.url)
        self.is_async = bool(self._dialect.is_async)
        self._list, self._reflect = _CATALOGS.get(self.url.get_backend_name(), _INSPECTOR)
        self._limiter = anyio.CapacityLimiter(source.threads)
        self._engine: Engine | AsyncEngine | None = None
        self._engine_lock = anyio.Lock()
        self._counter = threading.Lock()
        self._open = 0
        self._peak = 0
        self._closed = False
        self._leases: dict[int, Lease] = {}  # by id() of the lent sync Connection

    async def __aenter__(self) -> SqlAlchemyConnector:
        await self._get_engine()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def engine(self) -> Engine | AsyncEngine | None:
        """The engine once created (``None`` before first use and after ``aclose``)."""
        return self._engine

    async def _in_thread(self, function: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)

    async def _on_connection(
        self, function: Callable[..., T], connection: Connection, *args: Any
    ) -> T:
        """Run ``function(connection, *args)`` in a worker; abandon the thread on cancel."""
        lease = self._leases.get(id(connection))
        if lease is None:
            return await self._in_thread(function, connection, *args)
        return await anyio.to_thread.run_sync(
            lease.run, function, connection, *args, limiter=self._limiter, abandon_on_cancel=True
        )

    def _engine_options(self) -> dict[str, Any]:
        connect_args = driver_timeouts(self.url, self.source.unit_timeout)
        connect_args.update(self.source.connect_args)  # the user's own win
        options: dict[str, Any] = {"connect_args": connect_args}
        pool_class = cast("type[DefaultDialect]", self._dialect).get_pool_class(self.url)
        if issubclass(pool_class, QueuePool):
            options.update(pool_size=self.source.threads, max_overflow=0)
        return options

    async def _get_engine(self) -> Engine | AsyncEngine:
        async with self._engine_lock:
            if self._closed:
                raise RuntimeError("the connector is closed")
            if self._engine is None:
                options = self._engine_options()
                if self.is_async:
                    async_engine = create_async_engine(self.url, **options)
                    self._watch(async_engine.sync_engine.pool)
                    self._engine = async_engine
                else:
                    engine = await self._in_thread(lambda: create_engine(self.url, **options))
                    self._watch(engine.pool)
                    self._engine = engine
            return self._engine

    def _watch(self, pool: Pool) -> None:
        """Count open DBAPI connections through pool events (fired in worker threads)."""

        def opened(*_: Any) -> None:
            with self._counter:
                self._open += 1
                self._peak = max(self._peak, self._open)

        def closed(*_: Any) -> None:
            with self._counter:
                self._open -= 1

        event.listen(pool, "connect", opened)
        event.listen(pool, "close", closed)
        event.listen(pool, "close_detached", closed)

    def peak_connections(self) -> int:
        """The most DBAPI connections that were open at once so far."""
        return self._peak

    async def list_databases(self) -> list[Database]:
        """The one database the URL points at."""
        return [Database(name=self.database_name, service=self.service_name)]

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        """The database's schemas, with comments where the catalog has them."""
        async with self.connection(database) as connection:
            try:
                if isinstance(connection, AsyncConnection):
                    names = await connection.run_sync(self._list)
                else:
                    names = await self._on_connection(self._list, connection)
            except SQLAlchemyError as exc:
                raise SourceError(f"{self.safe_url}: cannot list schemas: {cause(exc)}") from exc
        return [
            DatabaseSchema(name=name, database=database.fqn, description=comment)
            for name, comment in names
        ]

    @asynccontextmanager
    async def connection(self, database: Database) -> AsyncIterator[Connection | AsyncConnection]:
        """Lend one dedicated connection; it is invalidated, not pooled, if its user raised."""
        engine = await self._get_engine()
        if isinstance(engine, AsyncEngine):
            async with self._async_connection(engine) as connection:
                yield connection
            return
        try:
            sync = await self._in_thread(engine.connect)
        except (SQLAlchemyError, OSError) as exc:
            raise SourceError(f"cannot connect to {self.safe_url}: {cause(exc)}") from exc
        lease = self._leases[id(sync)] = Lease(
            sync.connection.dbapi_connection, partial(_drop, sync)
        )
        worker_drops_it = False
        try:
            yield sync
        except BaseException:
            # a worker still blocked in a call (the unit was cancelled or timed out) keeps
            # the connection and drops it when the call returns; else it is dropped here
            worker_drops_it = lease.abandon()
            if not worker_drops_it:
                with anyio.CancelScope(shield=True):
                    await self._in_thread(sync.invalidate)
            raise
        finally:
            del self._leases[id(sync)]
            if not worker_drops_it:
                with anyio.CancelScope(shield=True):
                    await self._in_thread(sync.close)

    @asynccontextmanager
    async def _async_connection(self, engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
        connection = engine.connect()
        try:
            with anyio.fail_after(self.source.connect_timeout):
                await connection.start()
        except TimeoutError:
            with anyio.CancelScope(shield=True):
                await connection.close()
            timeout = self.source.connect_timeout
            raise SourceError(
                f"cannot connect to {self.safe_url}: timed out after {timeout}s"
            ) from None
        except (SQLAlchemyError, OSError) as exc:
            raise SourceError(f"cannot connect to {self.safe_url}: {cause(exc)}") from exc
        try:
            yield connection
        except BaseException:
            with anyio.CancelScope(shield=True):
                await connection.invalidate()
            raise
        finally:
            with anyio.CancelScope(shield=True):
                await connection.close()

    async def extract(self, unit: Unit, connection: Connection | AsyncConnection) -> SchemaBatch:
        """Reflect one schema in bulk and build its tables, in name order."""
        try:
            if isinstance(connection, AsyncConnection):
                reflected = await connection.run_sync(self._reflect, unit.schema.name)
                tables = self._build(reflected, unit, connection.dialect)
            else:
                tables = await self._on_connection(self._extract_sync, connection, unit)
        except SQLAlchemyError as exc:
            raise ExtractError(unit.fqn, cause(exc)) from exc
        batch = SchemaBatch(unit.database, unit.schema, tables)
        dialect = _SQLGLOT.get(connection.dialect.name)
        if not self.source.include_lineage or dialect is None:
            return batch
        catalog = unit.database.name if dialect in ("postgres", "duckdb") else None
        fetch = partial(self._relations, connection, unit, catalog)
        return await attach_lineage(batch, dialect=dialect, catalog=catalog, fetch=fetch)

    async def _relations(
        self,
        connection: Connection | AsyncConnection,
        unit: Unit,
        catalog: str | None,
        keys: Sequence[tuple[str, str, str]],
    ) -> list[Relation]:
        """Columns of what views read in other schemas: those schemas reflected once each."""
        wanted: dict[str, set[str]] = defaultdict(set)
        for key_catalog, schema, name in keys:
            if catalog is None or key_catalog == catalog:
                wanted[schema].add(name)

        def work(sync: Connection) -> list[Relation]:
            out: list[Relation] = []
            for schema, names in sorted(wanted.items()):
                try:
                    reflected = self._reflect(sync, schema)
                except SQLAlchemyError:
                    continue  # not a schema of this database: its views' edges stay unresolved
                schema_fqn = build_fqn(self.service_name, unit.database.name, schema)
                out.extend(
                    Relation(
                        table_fqn(schema_fqn, name),
                        catalog,
                        schema,
                        name,
                        tuple(c["name"] for c in reflected.columns[name]),
                    )
                    for name in sorted(names & set(reflected.columns))
                )
            return out

        if isinstance(connection, AsyncConnection):
            return await connection.run_sync(work)
        return await self._on_connection(work, connection)

    def _extract_sync(self, connection: Connection, unit: Unit) -> tuple[Table, ...]:
        reflected = self._reflect(connection, unit.schema.name)
        return self._build(reflected, unit, connection.dialect)

    def _build(self, reflected: Reflected, unit: Unit, dialect: Dialect) -> tuple[Table, ...]:
        return build_tables(reflected, unit.schema, self.service_name, unit.database.name, dialect)

    async def aclose(self) -> None:
        """Dispose of the engine and its pooled connections; safe to call more than once."""
        async with self._engine_lock:
            self._closed = True
            engine, self._engine = self._engine, None
        if engine is None:
            return
        with anyio.CancelScope(shield=True):
            if isinstance(engine, AsyncEngine):
                await engine.dispose()
            else:
                await self._in_thread(engine.dispose)

    async def server_version(self) -> str:
        """The dialect's name and the server version it reports after connecting."""
        database = Database(name=self.database_name, service=self.service_name)
        async with self.connection(database) as connection:
            info = connection.dialect.server_version_info
        name = self.url.get_backend_name()
        return f"{name} {'.'.join(map(str, info))}" if info else name

    async def probe(self, unit: Unit, connection: Connection | AsyncConnection) -> None:
        """Check that the schema is visible through the dialect's inspector."""

        def has_schema(sync: Connection) -> bool:
            return bool(inspect(sync).has_schema(unit.schema.name))

        try:
            if isinstance(connection, AsyncConnection):
                found = await connection.run_sync(has_schema)
            else:
                found = await self._on_connection(has_schema, connection)
        except SQLAlchemyError as exc:
            raise ExtractError(unit.fqn, cause(exc)) from exc
        if not found:
            raise LookupError(f"schema {unit.schema.name!r} not found")
