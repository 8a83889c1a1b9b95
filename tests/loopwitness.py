"""Proof by counting that blocking extraction leaves the event loop free (no wall-clock bound).

A ticker task on the loop counts its turns. Each call of the wrapped blocking function (a sync
connector's extraction) first waits, in whatever thread runs it, until the ticker has taken
``turns`` more turns: if it ran on the loop's thread the ticker could not turn, the wait would
give up after ``patience`` seconds and the call counts as *starved*. On a loaded machine the
wait only takes longer; it cannot fail for slowness.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import anyio.lowlevel

T = TypeVar("T")


class LoopWitness:
    """Counts ticker turns; wraps blocking functions to wait for them and record their thread."""

    def __init__(self, turns: int = 3, patience: float = 30.0) -> None:
        self.turns = turns
        self.patience = patience
        self.ticks = 0
        self.loop_thread = threading.get_ident()
        self.threads: set[int] = set()
        self.calls = 0
        self.starved = 0
        self._lock = threading.Lock()

    def wrap(self, function: Callable[..., T]) -> Callable[..., T]:
        """``function``, waiting first for ``turns`` ticker turns (or giving up: starved)."""

        def witnessed(*args: Any, **kwargs: Any) -> T:
            start = self.ticks
            give_up = time.monotonic() + self.patience  # only ends the wait of a failing test
            while self.ticks < start + self.turns and time.monotonic() < give_up:
                time.sleep(0.001)
            with self._lock:
                self.threads.add(threading.get_ident())
                self.calls += 1
                self.starved += self.ticks < start + self.turns
            return function(*args, **kwargs)

        return witnessed

    async def run(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` on this loop beside the ticker."""

        async def ticker() -> None:
            while True:
                await anyio.sleep(0.001)
                self.ticks += 1

        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await anyio.lowlevel.checkpoint()
            result = await work()
            tg.cancel_scope.cancel()
        return result

    def check(self, calls: int) -> None:
        """Every one of ``calls`` wrapped calls ran off the loop's thread, none starved."""
        assert self.calls == calls
        assert self.starved == 0
        assert self.loop_thread not in self.threads
