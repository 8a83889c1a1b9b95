"""The concurrency core: the only place in metaingest that starts tasks.

``Runner.run`` takes units in a fixed order and starts one task per unit, but never more
than ``threads`` at once: the scheduler takes a slot from a semaphore *before* it starts a
task, and the task gives the slot back only after its batch was handed to the stream. A
task holds exactly one source connection, and only while it extracts. So

- source connections <= threads (the connector's pool enforces it again);
- batches in memory <= threads running + the stream's buffer (about threads), whatever
  the size of the catalog — the consumer's speed bounds the producers (backpressure).

A unit that raises is recorded in the report with its FQN and cause; the others go on.
Cancellation is not caught: it stops every unit and the connections go back (and are
closed) through the connector's context managers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .connectors.base import Connector, SchemaBatch, Unit
from .report import Report, UnitTiming

__all__ = ["Runner"]

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """One line naming an exception: its type and its message."""
    text = " ".join(str(exc).split())
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


class Runner:
    """Runs units on a connector, at most ``threads`` at once, into a send stream."""

    def __init__(
        self,
        connector: Connector[Any],
        threads: int,
        report: Report,
        transform: Callable[[SchemaBatch], SchemaBatch] = lambda batch: batch,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self._connector = connector
        self._slots = anyio.Semaphore(threads)
        self._report = report
        self._transform = transform
        self._clock = clock
        self._t0 = clock()

    async def run(self, units: Sequence[Unit], send: MemoryObjectSendStream[SchemaBatch]) -> None:
        """Extract every unit and send its batch; closes ``send`` when all are done."""
        self._t0 = self._clock()
        async with send, anyio.create_task_group() as tg:
            for unit in units:
                await self._slots.acquire()
                tg.start_soon(self._run_unit, unit, send.clone(), name=f"unit {unit.fqn}")

    async def _run_unit(self, unit: Unit, send: MemoryObjectSendStream[SchemaBatch]) -> None:
        start = self._clock() - self._t0
        try:
            async with send:
                try:
                    async with self._connector.connection(unit.database) as connection:
                        batch = await self._connector.extract(unit, connection)
                    batch = self._transform(batch)
                except Exception as exc:
                    log.warning("%s: %s", unit.fqn, describe(exc), exc_info=log.isEnabledFor(10))
                    self._record(unit, start, "error", 0)
                    self._report.add_issue("error", unit.fqn, describe(exc))
                    return
                await send.send(batch)
                self._record(unit, start, "ok", len(batch.tables))
        finally:
            self._slots.release()

    def _record(self, unit: Unit, start: float, status: str, tables: int) -> None:
        report = self._report
        if status == "ok":
            report.units_ok += 1
        else:
            report.units_failed += 1
        report.units.append(
            UnitTiming(
                fqn=unit.fqn,
                start=round(start, 6),
                end=round(self._clock() - self._t0, 6),
                status="ok" if status == "ok" else "error",
                tables=tables,
            )
        )
