"""Engines for the store and the one locked transaction every write goes through.

A write takes the store's lock before anything else, so two runs never interleave: on
SQLite ``BEGIN IMMEDIATE`` (the database's single write lock), on PostgreSQL a transaction
advisory lock. The lock is polled until ``timeout`` seconds have passed (cancellable), then
the write fails with one line. Everything a run writes is in that one transaction: a crash,
``kill -9`` or cancellation before ``COMMIT`` leaves the previous state.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from metaingest.errors import MissingDependencyError, SinkError

__all__ = ["Locked", "connect_engine", "describe", "store_error"]

# pg_try_advisory_xact_lock key: b"metaingest" folded into a signed 64-bit integer
_PG_LOCK_KEY = int.from_bytes(b"mingest!", "big", signed=True)
_POLL = 0.05


def describe(url: str) -> str:
    """The store's URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid url>"


def store_error(url: str, exc: BaseException) -> SinkError:
    """One line naming the store and the cause, never the password."""
    cause = exc
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        cause = exc.orig
    text = " ".join(str(cause).split()) or type(cause).__name__
    return SinkError(f"catalog store {describe(url)}: {text}")


def connect_engine(url: str) -> AsyncEngine:
    """An async engine for a ``sqlite+aiosqlite`` or ``postgresql+asyncpg`` URL."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise SinkError(f"catalog store: invalid URL {describe(url)!r}") from exc
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise SinkError(
            f"catalog store {describe(url)}: unsupported database {backend!r} "
            "(use sqlite+aiosqlite:// or postgresql+asyncpg://)"
        )
    options: dict[str, Any] = {}
    if backend == "sqlite":
        # the driver's own busy wait stays short: the lock is polled in _begin_sqlite
        options["connect_args"] = {"timeout": 0.2}
    try:
        engine = create_async_engine(parsed, **options)
    except ModuleNotFoundError as exc:
        if backend == "postgresql":
            raise MissingDependencyError(exc.name or "asyncpg", "postgres") from exc
        raise SinkError(f"catalog store: the {exc.name!r} driver is missing (reinstall)") from exc
    except (ArgumentError, SQLAlchemyError) as exc:
        raise store_error(url, exc) from exc
    if backend == "sqlite":
        sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (`metaingest changes`) never wait for a run's write transaction
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    except Exception:  # another connection holds the lock: the mode is set already
        pass
    finally:
        cursor.close()


class Locked:
    """One connection holding the store's write lock in one transaction."""

    def __init__(self, engine: AsyncEngine, url: str, timeout: float) -> None:
        self.engine = engine
        self.url = url
        self.timeout = timeout
        self.conn: AsyncConnection | None = None
        self._sqlite = engine.dialect.name == "sqlite"

    async def begin(self) -> AsyncConnection:
        """Connect, open the transaction and take the lock, waiting up to ``timeout``."""
        try:
            conn = await self.engine.connect()
        except (OSError, SQLAlchemyError) as exc:
            raise store_error(self.url, exc) from exc
        self.conn = conn
        try:
            if self._sqlite:
                await self._begin_sqlite(conn)
            else:
                await self._begin_postgres(conn)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self.rollback()
            raise
        return conn

    def _busy(self, started: float) -> bool:
        if time.monotonic() - started < self.timeout:
            return True
        raise SinkError(
            f"catalog store {describe(self.url)}: another run is publishing to it; "
            f"gave up after waiting {self.timeout:g} s (sink.lock_timeout)"
        )

    async def _begin_sqlite(self, conn: AsyncConnection) -> None:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        started = time.monotonic()
        while True:
            try:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise store_error(self.url, exc) from exc
                self._busy(started)
                await anyio.sleep(_POLL)

    async def _begin_postgres(self, conn: AsyncConnection) -> None:
        try:
            await conn.begin()
            started = time.monotonic()
            while not (
                await conn.execute(
                    sa.select(sa.func.pg_try_advisory_xact_lock(sa.literal(_PG_LOCK_KEY)))
                )
            ).scalar_one():
                self._busy(started)
                await anyio.sleep(_POLL)
        except SQLAlchemyError as exc:
            raise store_error(self.url, exc) from exc

    async def commit(self) -> None:
        """Make the transaction's writes visible, release the lock and the connection."""
        conn = self.conn
        if conn is None:
            return
        try:
            if self._sqlite:
                await conn.exec_driver_sql("COMMIT")
            else:
                await conn.commit()
        except SQLAlchemyError as exc:
            await self.rollback()
            raise store_error(self.url, exc) from exc
        self.conn = None
        await conn.close()

    async def rollback(self) -> None:
        """Discard the transaction (idempotent); the previous state stays as it was."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if self._sqlite:
                await conn.exec_driver_sql("ROLLBACK")
            else:
                await conn.rollback()
        except (OSError, SQLAlchemyError):
            pass  # no transaction was open (BEGIN failed), or the connection is gone
        finally:
            await conn.close()
