"""Sync DBAPI connections in worker threads: bounded by ``unit_timeout``, abandoned on cancel.

A worker thread cannot be stopped from outside. So a unit that times out (or a run that is
cancelled) *abandons* the thread (``anyio.to_thread.run_sync(..., abandon_on_cancel=True)``)
instead of waiting for it, and the blocked call is ended by other means, per driver:

- the driver's own timeouts, set from ``unit_timeout`` unless ``connect_args`` sets them
  (``driver_timeouts``): PyMySQL's ``read_timeout``/``write_timeout``, pysqlite's busy
  ``timeout``;
- an interrupt from the event loop where the DBAPI connection has a thread-safe one:
  ``interrupt()`` (sqlite3, DuckDB) or ``cancel()`` (psycopg).

The abandoned thread keeps the connection until its call returns; then it invalidates and
closes the connection itself (``Lease``), so two threads never use one connection and the
engine's pool, capped at ``threads``, never hands it out again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.engine.url import URL

__all__ = ["Lease", "driver_timeouts"]

log = logging.getLogger(__name__)

T = TypeVar("T")


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


class Lease:
    """One unit's sync connection, and which thread may use it now."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._dbapi: Any = connection.connection.dbapi_connection
        self._state = threading.Lock()
        self._running = False
        self._abandoned = False

    @property
    def abandoned(self) -> bool:
        """True once the unit let go of the connection (cancelled, timed out, or failed)."""
        return self._abandoned

    def run(self, function: Callable[..., T], *args: Any) -> T:
        """Call ``function(*args)`` in this worker thread; drop the connection if abandoned."""
        with self._state:
            if self._abandoned:
                raise RuntimeError("the connection was abandoned")
            self._running = True
        try:
            return function(*args)
        finally:
            with self._state:
                self._running = False
                mine = self._abandoned
            if mine:  # the event loop gave up on this call: the connection is this thread's
                _drop(self.connection)

    def abandon(self) -> bool:
        """Let go (event loop side); True when a worker still runs and will drop it itself."""
        with self._state:
            self._abandoned = True
            running = self._running
        if running:
            self._interrupt()
        return running

    def _interrupt(self) -> None:
        for name in ("interrupt", "cancel"):  # thread-safe in sqlite3, DuckDB, psycopg
            method = getattr(self._dbapi, name, None)
            if callable(method):
                try:
                    method()
                except Exception as exc:
                    log.debug("%s() of an abandoned connection failed: %s", name, exc)
                return


def _drop(connection: Connection) -> None:
    try:
        connection.invalidate()
        connection.close()
    except Exception as exc:  # it is gone either way
        log.debug("dropping an abandoned connection failed: %s", exc)
