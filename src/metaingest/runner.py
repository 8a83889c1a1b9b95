"""The concurrency core: the only place in metaingest that starts tasks.

``Runner.run`` takes units in a fixed order (or from a ``Feed``: with several databases,
discovery's listings come as jobs that hold a slot like a unit, ``metaingest.pipeline``) and
starts one task per unit or job, but never more than ``threads`` at once: the scheduler takes
a slot from a semaphore *before* it starts a task, and the task gives the slot back only
after its batch was handed to the stream. A task holds exactly one source connection, and
only while it extracts (or lists). So

- source connections <= threads (the connector's pool enforces it again);
- batches in memory <= threads running + the stream's buffer (about threads), whatever
  the size of the catalog — the consumer's speed bounds the producers (backpressure).

Small schemas of one database may come as a group (``metaingest.connectors.grouping``): the
group holds one slot and one connection, and is read in one round of catalog queries (within
``unit_timeout`` for the whole round); each of its schemas is still recorded as its own unit.
If the round fails (other than fatally) the group's schemas are read one at a time, each as
any unit is, with its own retries, so that one bad schema fails alone (the failed round is
logged as a warning; a unit's attempts count only its own).

Errors are handled here and only here, by their kind (``metaingest.retry.classify``,
with ``unit=True``: discovery succeeded, so only authentication is fatal): a fatal error
stops the run and is raised from ``run``; a retriable one runs the unit again on a fresh
connection after a backoff (the failed connection is discarded by the pool), keeping its
slot; anything else is recorded in the report with the unit's FQN and the other units go
on. The report names the error that started a failure (``metaingest.retry.original``),
not one the driver raised later while leaving a dead connection. Cancellation is never
caught: it stops every unit, and connections go back through the connector's context
managers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Protocol

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from metaingest.connectors.base import Connector, SchemaBatch, Unit
from metaingest.connectors.grouping import GroupExtractor, plan_groups
from metaingest.errors import MetaingestError, SourceError
from metaingest.redact import Redactor
from metaingest.report import Report, UnitTiming
from metaingest.retry import backoff, classify, original

if TYPE_CHECKING:
    from metaingest.executors.spec import UnitOutcome

__all__ = ["Feed", "Group", "Job", "Runner", "describe"]

Job = Callable[[], Awaitable[None]]
# units that share one slot: one unit, or small schemas of one database read in one round
Group = tuple[Unit, ...]


class Feed(Protocol):
    """Work handed out one slot at a time: a group of units, a job that holds the slot, or
    None (done)."""

    async def take(self) -> Group | Job | None:
        """The next piece of work; may wait for work that is on its way."""
        ...

    def finished(self, unit: Unit) -> None:
        """``unit`` is done (its connection is back in the pool); called before its slot is."""
        ...


class _Units:
    """A fixed sequence of groups of units as a feed."""

    def __init__(self, groups: Sequence[Group]) -> None:
        self._groups = iter(groups)

    async def take(self) -> Group | Job | None:
        return next(self._groups, None)

    def finished(self, unit: Unit) -> None:
        pass


log = logging.getLogger(__name__)

_NO_SECRETS = Redactor()


def describe(exc: BaseException, redact: Callable[[str], str] = _NO_SECRETS) -> str:
    """One line naming an exception: its type and its message, secrets masked."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "TimeoutError: timed out"
    text = redact(" ".join(str(exc).split()))
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
        *,
        retries: int = 0,
        retry_backoff: float = 0.5,
        unit_timeout: float | None = None,
        redact: Callable[[str], str] = _NO_SECRETS,
        clock: Callable[[], float] = time.perf_counter,
        on_start: Callable[[Unit], None] = lambda unit: None,
        on_finish: Callable[[Unit], None] = lambda unit: None,
        remote: Callable[[Unit], Awaitable[UnitOutcome]] | None = None,
    ) -> None:
        if threads < 1:
            raise ValueError("threads must be >= 1")
        self._connector = connector
        self._slots = anyio.Semaphore(threads)
        self._threads = threads
        self._report = report
        self._transform = transform
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._unit_timeout = unit_timeout
        self._redact = redact
        self._clock = clock
        self._on_start = on_start
        self._on_finish = on_finish
        self._remote = remote
        self._t0 = clock()
        self._fatal: BaseException | None = None
        self._scope: anyio.CancelScope | None = None
        self._feed: Feed = _Units(())

    @property
    def fatal(self) -> BaseException | None:
        """The error that stopped the run, if one did; ``run`` has then stopped every unit."""
        return self._fatal

    async def run(
        self, units: Sequence[Unit] | Feed, send: MemoryObjectSendStream[SchemaBatch]
    ) -> None:
        """Extract every unit and send its batch; closes ``send`` when all are done.

        ``units`` may be a ``Feed``: its jobs (discovery's listings) run in a slot like a
        unit, so they count within ``threads``; a job's error stops the run as a fatal one.
        A fatal error stops every unit and ends the stream early; it is kept in ``fatal``
        for the caller to raise, so that it never arrives wrapped in an exception group.
        """
        self._t0 = self._clock()
        if isinstance(units, Sequence):
            # small schemas of one database read in one round, when the connector can (in
            # process only: a remote executor runs one unit per task)
            if self._remote is None:
                feed: Feed = _Units(plan_groups(self._connector, units, self._threads))
            else:
                feed = _Units([(unit,) for unit in units])
        else:
            feed = units
        self._feed = feed
        async with send, anyio.create_task_group() as tg:
            self._scope = tg.cancel_scope
            while True:
                await self._slots.acquire()
                work = None if self._fatal is not None else await feed.take()
                if work is None:
                    self._slots.release()
                    break
                if isinstance(work, tuple):
                    name = f"unit {work[0].fqn}" + (f" +{len(work) - 1}" if len(work) > 1 else "")
                    tg.start_soon(self._run_group, work, send.clone(), name=name)
                else:
                    tg.start_soon(self._run_job, work, name="discovery")

    async def _run_job(self, job: Job) -> None:
        try:
            await job()
        except Exception as exc:
            self._stop(exc)
        finally:
            self._slots.release()

    async def _run_group(self, units: Group, send: MemoryObjectSendStream[SchemaBatch]) -> None:
        """Units in one slot: a group's round of queries, else each unit on its own."""
        start = self._clock() - self._t0
        for unit in units:
            self._on_start(unit)
        left = list(units)
        try:
            async with send:
                if len(units) > 1:
                    batches = await self._extract_round(units, start)
                    if batches is None and self._fatal is not None:
                        return  # every unit of the group was recorded as failed
                    if batches is not None:
                        for unit, batch in zip(units, batches, strict=True):
                            await self._deliver(unit, start, send, batch, 1)
                            self._done(left.pop(0))
                        return
                while left:  # one at a time: a unit's attempts and retries are its own
                    unit = left[0]
                    if self._remote is not None:
                        one, attempts = await self._extract_remote(unit, self._remote)
                    else:
                        one, attempts = await self._extract(unit)
                    await self._deliver(unit, start, send, one, attempts)
                    self._done(left.pop(0))
        finally:
            for unit in left:
                self._done(unit)
            self._slots.release()

    async def _deliver(
        self,
        unit: Unit,
        start: float,
        send: MemoryObjectSendStream[SchemaBatch],
        batch: SchemaBatch | None,
        attempts: int,
    ) -> None:
        if batch is None:
            self._record(unit, start, "error", 0, attempts)
            return
        await send.send(batch)
        self._record(unit, start, "ok", len(batch.tables), attempts)
        log.debug("%s: %d tables", unit.fqn, len(batch.tables), extra={"fqn": unit.fqn})

    def _done(self, unit: Unit) -> None:
        self._feed.finished(unit)
        self._on_finish(unit)

    async def _extract_round(self, units: Group, start: float) -> list[SchemaBatch] | None:
        """A group's batches from one round of queries; None when the round failed (then its
        units are read one at a time, each with its own retries). A fatal error stops the run
        and fails every unit of the group."""
        connector = self._connector
        assert isinstance(connector, GroupExtractor)
        try:
            timeout = self._unit_timeout
            with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                async with self._connector.connection(units[0].database) as connection:
                    batches = await connector.extract_group(units, connection)
            return [self._transform(batch) for batch in batches]
        except Exception as exc:
            if classify(exc, unit=True) == "fatal":
                for unit in units:
                    self._record(unit, start, "error", 0, 1)
                self._stop(exc)
                return None
            log.warning(
                "%s and %d more schemas: reading them together failed (%s); reading them one "
                "at a time",
                units[0].fqn,
                len(units) - 1,
                describe(original(exc), self._redact),
                extra={"fqn": units[0].fqn},
            )
            return None

    async def _extract(self, unit: Unit) -> tuple[SchemaBatch | None, int]:
        attempt = 0
        while True:
            attempt += 1
            try:
                timeout = self._unit_timeout
                with anyio.fail_after(timeout) if timeout is not None else nullcontext():
                    async with self._connector.connection(unit.database) as connection:
                        batch = await self._connector.extract(unit, connection)
                return self._transform(batch), attempt
            except Exception as exc:
                if isinstance(exc, TimeoutError) and self._unit_timeout is not None:
                    message = f"timed out after {self._unit_timeout:g} s"
                else:
                    message = describe(original(exc), self._redact)
                kind = classify(exc, unit=True)
                if kind == "fatal":
                    self._stop(exc)
                    return None, attempt
                if kind == "retriable" and attempt <= self._retries:
                    delay = backoff(attempt, self._retry_backoff)
                    log.warning(
                        "%s: attempt %d failed (%s); retrying in %.2f s",
                        unit.fqn,
                        attempt,
                        message,
                        delay,
                        extra={"fqn": unit.fqn},
                    )
                    await anyio.sleep(delay)
                    continue
                if kind == "retriable" and self._retries:
                    message = f"{message} (gave up after {attempt} attempts)"
                log.error("%s: %s", unit.fqn, message, extra={"fqn": unit.fqn})
                self._report.add_issue("error", unit.fqn, message)
                return None, attempt

    async def _extract_remote(
        self, unit: Unit, remote: Callable[[Unit], Awaitable[UnitOutcome]]
    ) -> tuple[SchemaBatch | None, int]:
        """The unit extracted elsewhere (an executor): connection, retries and all."""
        try:
            outcome = await remote(unit)
        except Exception as exc:  # the executor itself failed (a task lost too often)
            message = describe(exc, self._redact)
            log.error("%s: %s", unit.fqn, message, extra={"fqn": unit.fqn})
            self._report.add_issue("error", unit.fqn, message)
            return None, 1
        for issue in outcome.issues:
            self._report.add_issue(issue.level, issue.fqn, self._redact(issue.message))
        if outcome.fatal is not None:
            self._stop(
                SourceError(outcome.fatal)
                if outcome.fatal_is_source
                else MetaingestError(outcome.fatal)
            )
            return None, outcome.attempts
        if outcome.batch is None:
            return None, outcome.attempts
        return self._transform(outcome.batch), outcome.attempts

    def _stop(self, exc: BaseException) -> None:
        if self._fatal is None:
            self._fatal = exc
            if self._scope is not None:
                self._scope.cancel()

    def _record(self, unit: Unit, start: float, status: str, tables: int, attempts: int) -> None:
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
                attempts=attempts,
            )
        )
