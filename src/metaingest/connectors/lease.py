"""Sync connections in worker threads: abandoned, not waited for, when a unit is cancelled.

A worker thread cannot be stopped from outside. So a unit that times out (or a run that is
cancelled) *abandons* the thread (``anyio.to_thread.run_sync(..., abandon_on_cancel=True)``)
instead of waiting for it, and the blocked call is ended by other means: the driver's own
timeouts (set from ``unit_timeout`` by the connector), and an interrupt from the event loop
where the DBAPI connection has a thread-safe one: ``interrupt()`` (sqlite3, DuckDB) or
``cancel()`` (psycopg).

The abandoned thread keeps the connection until its call returns; then it drops the
connection itself (``Lease``), so two threads never use one connection and a pool never
hands it out again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["Lease"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Lease:
    """One unit's sync connection, and which thread may use it now."""

    def __init__(self, dbapi: Any, drop: Callable[[], None]) -> None:
        self._dbapi = dbapi
        self._drop = drop
        self._state = threading.Lock()
        self._running = False
        self._abandoned = False

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
                try:
                    self._drop()
                except Exception as exc:  # it is gone either way
                    log.debug("dropping an abandoned connection failed: %s", exc)

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
