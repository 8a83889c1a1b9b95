"""A connection pool keyed by database with one cap across all keys.

Why not the drivers' own pools: asyncpg and aiomysql pools are per database, so a run over
several databases could hold ``threads`` idle connections in each. This pool caps the total:
when every slot is taken by another database's idle connection, that connection is closed
before a new one opens. A connection whose user raised is closed, never reused, so a
connection the server or a proxy cut is never handed out again.

When the user raised, the pool asks the connector whether the connection is still alive
(``alive``); a dead one turns the error into ``ConnectionLost`` (retriable) chained to what
the driver raised, whatever that was: the server's error, or the one raised while leaving
a transaction on a connection that was already gone.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

import anyio

from metaingest.retry import ConnectionLost

__all__ = ["KeyedPool", "PoolStatistics"]

K = TypeVar("K", bound=Hashable)
C = TypeVar("C")

log = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 5.0
_ALIVE_TIMEOUT = 2.0


@dataclass(frozen=True, slots=True)
class PoolStatistics:
    """Open and idle connections now, and the most that were open at once."""

    open: int
    idle: int
    peak_open: int


class KeyedPool(Generic[K, C]):
    """At most ``size`` connections over all keys; idle ones are reused per key."""

    def __init__(
        self,
        open_: Callable[[K], Awaitable[C]],
        close: Callable[[C], Awaitable[None]],
        size: int,
        alive: Callable[[C], Awaitable[bool]] | None = None,
    ) -> None:
        if size < 1:
            raise ValueError("size must be >= 1")
        self._open_connection = open_
        self._close_connection = close
        self._alive = alive
        self._size = size
        self._idle: dict[K, list[C]] = {}
        self._open = 0
        self._peak = 0
        self._released = anyio.Event()
        self._closed = False

    def statistics(self) -> PoolStatistics:
        """A snapshot of the pool's counters."""
        idle = sum(len(v) for v in self._idle.values())
        return PoolStatistics(open=self._open, idle=idle, peak_open=self._peak)

    @asynccontextmanager
    async def acquire(self, key: K) -> AsyncIterator[C]:
        """Lend a connection for ``key``; it returns to the pool only if the body succeeded."""
        connection = await self._checkout(key)
        try:
            yield connection
        except Exception as exc:
            try:
                lost = not await self._is_alive(connection)
            finally:  # even if the check is cancelled: the slot must come back
                await self._discard(connection)
            if lost:
                raise ConnectionLost(_lost_message(exc)) from exc
            raise
        except BaseException:
            await self._discard(connection)
            raise
        if self._closed:
            await self._discard(connection)
        else:
            self._idle.setdefault(key, []).append(connection)
            self._notify()

    async def _checkout(self, key: K) -> C:
        while True:
            if self._closed:
                raise RuntimeError("the pool is closed")
            idle = self._idle.get(key)
            if idle:
                return idle.pop()
            if self._open < self._size:
                self._open += 1
                break
            victim = self._pop_other_idle()
            if victim is not None:
                await self._close(victim)  # its slot passes straight to the new connection
                break
            event = self._released
            await event.wait()
        self._peak = max(self._peak, self._open)
        try:
            return await self._open_connection(key)
        except BaseException:
            self._open -= 1
            self._notify()
            raise

    async def _is_alive(self, connection: C) -> bool:
        if self._alive is None:
            return True
        with anyio.move_on_after(_ALIVE_TIMEOUT):
            try:
                return await self._alive(connection)
            except Exception as exc:
                log.debug("a connection failed its liveness check: %s", exc)
                return False
        return False

    def _pop_other_idle(self) -> C | None:
        for connections in self._idle.values():
            if connections:
                return connections.pop()
        return None

    def _notify(self) -> None:
        self._released.set()
        self._released = anyio.Event()

    async def _close(self, connection: C) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(_CLOSE_TIMEOUT):
            try:
                await self._close_connection(connection)
            except Exception as exc:  # closing a dead connection may fail; it is gone anyway
                log.debug("closing a connection failed: %s", exc)

    async def _discard(self, connection: C) -> None:
        await self._close(connection)
        self._open -= 1
        self._notify()

    async def aclose(self) -> None:
        """Close every idle connection; lent ones close when they come back. Idempotent."""
        self._closed = True
        victims = []
        while (victim := self._pop_other_idle()) is not None:
            victims.append(victim)
        # at once: a graceful close waits for the server to hang up (a few ms each)
        async with anyio.create_task_group() as tg:
            for victim in victims:
                tg.start_soon(self._discard, victim)


def _lost_message(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"connection lost ({type(exc).__name__}: {text})" if text else "connection lost"
