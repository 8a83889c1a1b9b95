"""A fleet: several sources in one run, concurrently, into one sink, with one report.

``Fleet(config)`` runs one ``Workflow`` per entry of ``sources:`` (each with its own
connector, filters, threads and report) and merges their batches into one bounded stream
that one task writes to the sink. Rules:

- sources start in config order, each as soon as its ``threads`` fit in
  ``workflow.max_connections`` (when set) and give them back when they end, connections
  closed: the connections open at once over the whole fleet never exceed the budget;
- a source that fails as a whole (cannot connect, bad credentials, a fatal error mid-run)
  fails alone: it is recorded with its error and the others finish;
- verdicts: each source is ``ok`` when its own success rate meets
  ``workflow.success_threshold`` (reported per source); the *overall* rate — units of every
  source, a source that failed before listing its units counting as one failed unit —
  decides, against the same threshold, whether the sink commits and the exit code;
- a stateful sink (``ScopedSink``) is given, at commit, one ``RunScope`` per source whose
  own verdict is ``ok`` (its own service): it may delete only inside those, never under a
  source that failed or fell below the threshold (what such a source delivered is still
  written; nothing of its service is deleted). Only a sink that keeps several services
  apart (``scopes_per_service = True``: the catalog store, metadata-rest) takes a fleet of
  several sources; another stateful sink is refused such a fleet before anything connects.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from itertools import chain
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from .boundary import single_error
from .config import WorkflowConfig
from .connectors import SchemaBatch
from .errors import ConfigError, MetaingestError
from .executors.select import open_executor
from .observe import Progress, ProgressObserver
from .plan import Plan
from .preload import preload
from .redact import Redactor, secrets_of
from .report import Report, SourceSummary
from .sinks import CheckedSink, OpenableSink, ScopedSink, Sink, create_sink
from .sinks.guard import discard, sink_call
from .workflow import Workflow

__all__ = ["Fleet"]

log = logging.getLogger(__name__)


class _Budget:
    """Connections the fleet may open at once; a source takes its threads, in order."""

    def __init__(self, total: int | None) -> None:
        self._free = total
        self._changed = anyio.Event()

    async def take(self, count: int) -> None:
        while self._free is not None and self._free < count:
            await self._changed.wait()
        if self._free is not None:
            self._free -= count

    def give(self, count: int) -> None:
        if self._free is not None:
            self._free += count
            self._changed.set()
            self._changed = anyio.Event()


class Fleet:
    """One run of a config with ``sources:``: every source, concurrently, into one sink."""

    def __init__(
        self,
        config: WorkflowConfig,
        sink: Sink | None = None,
        *,
        observer: ProgressObserver | None = None,
        client: Any = None,
    ) -> None:
        if config.sources is None:
            raise ValueError("a fleet needs sources:")
        self.config = config
        self._sink = sink
        self._observer = observer
        self._client = client
        self.sources = list(config.sources)
        self.workflows = [
            Workflow(config.for_source(i), observer=partial(self._progress, i))
            for i in range(len(self.sources))
        ]
        settings = config.workflow
        self.report = Report(
            threads=sum(source.threads for source in self.sources),
            success_threshold=settings.success_threshold,
            strict=settings.strict,
        )
        self.redact = Redactor(chain.from_iterable(secrets_of(s) for s in self.sources))
        self._failed: dict[int, str] = {}
        self._sink_report = Report()  # what the sink itself records (refused entities)
        self._latest: dict[int, Progress] = {}
        self._t0 = time.perf_counter()
        self._finished = False

    async def dry_run(self) -> Plan:
        """Every source's plan (discovery and filters, nothing extracted), in config order."""
        plans = [await workflow.dry_run() for workflow in self.workflows]
        return Plan(
            tuple(chain.from_iterable(p.databases for p in plans)),
            tuple(chain.from_iterable(p.units for p in plans)),
        )

    async def run(self) -> Report:
        """Run every source into the sink; commit only if the fleet met its threshold.

        Like ``Workflow.run``: the sink is checked before anything connects, raises one
        exception of ``metaingest.errors``, and is closed without commit unless published.
        """
        if self._sink is None:
            await preload(self.config)
        sink = self._sink or create_sink(self.config.sink, self.config.workflow)
        self._t0 = time.perf_counter()
        buffer = max(source.threads for source in self.sources)
        with single_error():
            scoped = isinstance(sink, ScopedSink)
            if scoped and len(self.sources) > 1 and not getattr(sink, "scopes_per_service", False):
                await sink.aclose(commit=False)
                raise ConfigError(
                    f"sink.type: {self.config.sink.type} keeps the state of one service: "
                    "a fleet of several sources needs one run per source with this sink"
                )
            if isinstance(sink, CheckedSink):
                await anyio.to_thread.run_sync(sink.check)
            committed = False
            error: BaseException | None = None
            send, receive = anyio.create_memory_object_stream[SchemaBatch](buffer)
            try:
                if isinstance(sink, OpenableSink):  # a destination that cannot work stops here
                    await sink.open(self.config, self._sink_report)
                async with open_executor(self.config.executor, self._client) as executor:
                    client = None if executor is None else executor.client
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(self._start_sources, send, client)
                        async with receive:
                            async for batch in receive:
                                what = f"write of {batch.fqn}"
                                await sink_call(self.redact, sink, what, sink.write(batch))
                self._summarise()
                if self.report.ok:
                    with anyio.CancelScope(shield=True):
                        if isinstance(sink, ScopedSink):
                            for source, workflow in zip(
                                self.report.sources, self.workflows, strict=True
                            ):
                                if source.state == "ok":  # its own verdict: it may delete
                                    call = sink.set_scope(workflow.scope())
                                    await sink_call(self.redact, sink, "set_scope", call)
                        await sink_call(self.redact, sink, "commit", sink.aclose(commit=True))
                    committed = True
                    self.report.published = True
            except BaseException as exc:
                error = exc
                if isinstance(exc, anyio.get_cancelled_exc_class()):
                    self.report.cancelled = True
                raise
            finally:
                if not committed:
                    await discard(self.redact, sink, error)
                self._summarise()
        return self.report

    async def _start_sources(self, send: MemoryObjectSendStream[SchemaBatch], client: Any) -> None:
        budget = _Budget(self.config.workflow.max_connections)
        async with send, anyio.create_task_group() as tg:
            for index, source in enumerate(self.sources):
                await budget.take(source.threads)
                release: Callable[[], None] = partial(budget.give, source.threads)
                tg.start_soon(self._run_source, index, send.clone(), client, release)

    async def _run_source(
        self,
        index: int,
        send: MemoryObjectSendStream[SchemaBatch],
        client: Any,
        release: Callable[[], None],
    ) -> None:
        workflow = self.workflows[index]
        workflow._client = client  # the fleet's one cluster client, shared by every source
        try:
            async with send, workflow.stream() as batches:
                async for batch in batches:
                    await send.send(batch)
        except MetaingestError as exc:
            message = workflow.redact(str(exc))
            self._failed[index] = message
            log.error("%s: source failed: %s", self.sources[index].service_name, message)
        finally:
            release()

    def _progress(self, index: int, progress: Progress) -> None:
        self._latest[index] = progress
        observer = self._observer
        if observer is None:
            return
        try:
            observer(self.progress())
        except Exception:
            log.exception("progress observer failed; it is dropped for the rest of the run")
            self._observer = None

    def progress(self) -> Progress:
        """The fleet's progress: totals over the sources, and each source's own."""
        latest = [self._latest.get(i) for i in range(len(self.sources))]
        started = [p for p in latest if p is not None]
        if started and len(started) == len(latest) and all(p.phase == "finished" for p in started):
            phase: Any = "finished"
        elif any(p.phase == "extracting" for p in started):
            phase = "extracting"
        else:
            phase = "discovering"
        per_source = tuple(
            (s.service_name, p.units_done, p.units_total, p.units_failed)
            if p is not None
            else (s.service_name, 0, 0, 0)
            for s, p in zip(self.sources, latest, strict=True)
        )
        return Progress(
            phase=phase,
            units_total=sum(p.units_total for p in started),
            units_done=sum(p.units_done for p in started),
            units_failed=sum(p.units_failed for p in started),
            tables=sum(p.tables for p in started),
            elapsed=time.perf_counter() - self._t0,
            in_flight=tuple(chain.from_iterable(p.in_flight for p in started)),
            sources=per_source,
        )

    def _summarise(self) -> None:
        """Fold the sources' reports into the fleet's (idempotent: rebuilt from scratch)."""
        old = self.report
        report = Report(
            threads=old.threads,
            success_threshold=old.success_threshold,
            strict=old.strict,
            cancelled=old.cancelled,
            published=old.published,
        )
        for index, (source, workflow) in enumerate(zip(self.sources, self.workflows, strict=True)):
            part = workflow.report
            report.databases += part.databases
            report.schemas += part.schemas
            report.tables += part.tables
            report.views += part.views
            report.columns += part.columns
            report.filtered.databases += part.filtered.databases
            report.filtered.schemas += part.filtered.schemas
            report.filtered.tables += part.filtered.tables
            report.units_total += part.units_total
            report.units_ok += part.units_ok
            report.units_failed += part.units_failed
            report.units_partial += part.units_partial
            report.peak_connections += part.peak_connections
            report.units.extend(part.units)
            for issue in part.all_issues():
                report.add_issue(issue.level, issue.fqn, issue.message)
            error = self._failed.get(index)
            if error is not None:
                report.add_issue("error", source.service_name, f"source failed: {error}")
                if part.units_total == 0:  # it never listed its units: one failed unit
                    report.units_total += 1
                    report.units_failed += 1
            report.sources.append(_summary(source, part, error, old.cancelled))
        sink_part = self._sink_report
        report.units_partial += sink_part.units_partial
        for issue in sink_part.all_issues():
            report.add_issue(issue.level, issue.fqn, issue.message)
        report.wall_seconds = round(time.perf_counter() - self._t0, 6)
        self.report = report


def _summary(source: Any, part: Report, error: str | None, cancelled: bool) -> SourceSummary:
    if cancelled or part.cancelled:
        state: Any = "cancelled"
    elif error is not None or not part.ok:
        state = "failed"
    else:
        state = "ok"
    return SourceSummary(
        service=source.service_name,
        type=source.type,
        state=state,
        error=error,
        threads=source.threads,
        databases=part.databases,
        schemas=part.schemas,
        tables=part.tables,
        views=part.views,
        columns=part.columns,
        warnings=part.warnings,
        errors=part.errors,
        units_total=part.units_total,
        units_ok=part.units_ok,
        units_failed=part.units_failed,
        units_partial=part.units_partial,
        success_pct=0.0 if error is not None and part.units_total == 0 else part.success_pct,
        peak_connections=part.peak_connections,
        wall_seconds=part.wall_seconds,
    )
