"""Wires a validated config to a connector, the runner, a sink and the report.

``Workflow.stream()`` is the core: discover, filter, run the units, and yield batches to
the caller through a bounded stream. ``Workflow.run()`` drains that stream into the sink
and commits it only when the run completed.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream

from .accounting import UnitCounts, account
from .config import WorkflowConfig
from .connectors import Connector, SchemaBatch, Unit, create_connector
from .entities import VIEW_TYPES
from .filters import Filter
from .observe import Progress, ProgressObserver, ProgressTracker
from .plan import DiscoveredDatabase, DiscoveredUnit, Plan
from .redact import Redactor, secrets_of
from .report import Report
from .runner import Runner
from .sinks import OpenableSink, RunScope, ScopedSink, Sink, create_sink

__all__ = ["DiscoveredDatabase", "DiscoveredUnit", "Plan", "Workflow", "ingest"]

log = logging.getLogger(__name__)

# Schemas every engine keeps for itself; excluded unless a filter sets its own excludes.
SYSTEM_SCHEMAS: dict[str, tuple[str, ...]] = {
    "postgres": ("^pg_catalog$", "^information_schema$", "^pg_toast", "^pg_temp_"),
    "mysql": ("^mysql$", "^information_schema$", "^performance_schema$", "^sys$"),
    "mariadb": ("^mysql$", "^information_schema$", "^performance_schema$", "^sys$"),
    "sqlite": (),
    "sqlalchemy": (
        "^information_schema$",
        "^pg_catalog$",
        "^pg_toast",
        "^mysql$",
        "^performance_schema$",
        "^sys$",
    ),
}


class Workflow:
    """One ingestion run of a validated config. Use once."""

    def __init__(
        self,
        config: WorkflowConfig,
        connector: Connector[Any] | None = None,
        sink: Sink | None = None,
        *,
        observer: ProgressObserver | None = None,
    ) -> None:
        self.config = config
        source = config.source
        self.connector: Connector[Any] = connector or create_connector(source)
        self._sink = sink
        self.report = Report(
            threads=source.threads,
            success_threshold=config.workflow.success_threshold,
            strict=config.workflow.strict,
        )
        self.redact = Redactor(secrets_of(source))
        self._tracker = ProgressTracker(self.report, observer)
        self._databases: list[DiscoveredDatabase] = []
        self._discovered: list[DiscoveredUnit] = []
        self._unit_counts: dict[str, UnitCounts] = {}
        self._partial: set[str] = set()
        self._database_filter = Filter.from_config(source.database_filter)
        self._schema_filter = Filter.from_config(
            source.schema_filter, SYSTEM_SCHEMAS.get(source.type, ())
        )
        self._table_filter = Filter.from_config(source.table_filter)

    async def discover(self) -> list[DiscoveredUnit]:
        """List every schema of every database, each marked with why it is skipped."""
        found: list[DiscoveredUnit] = []
        databases = sorted(await self.connector.list_databases(), key=lambda d: d.name)
        for database in databases:
            reason = self._database_filter.reason(database.name)
            self._databases.append(DiscoveredDatabase(database, reason))
            if reason is not None:
                self.report.filtered.databases += 1
                log.info("%s: filtered: %s", database.fqn, reason, extra={"fqn": database.fqn})
                continue
            schemas = sorted(await self.connector.list_schemas(database), key=lambda s: s.name)
            for schema in schemas:
                reason = self._schema_filter.reason(schema.name)
                if reason is not None:
                    self.report.filtered.schemas += 1
                found.append(DiscoveredUnit(Unit(database, schema), reason))
        return found

    async def plan(self) -> Plan:
        """Discover and filter without extracting; the connector must be open."""
        self._databases = []
        units = await self.discover()
        return Plan(tuple(self._databases), tuple(units))

    async def dry_run(self) -> Plan:
        """Connect, discover and filter, extract nothing, write nothing; then disconnect."""
        async with self.connector:
            return await self.plan()

    def progress(self) -> Progress:
        """A snapshot of the run's progress (also what the observer receives)."""
        return self._tracker.snapshot()

    def _filter_tables(self, batch: SchemaBatch) -> SchemaBatch:
        source = self.config.source
        kept = []
        for table in batch.tables:
            is_view = table.table_type in VIEW_TYPES
            wanted = source.include_views if is_view else source.include_tables
            if wanted and self._table_filter(table.name):
                kept.append(table)
        counts, shortfall = account(batch, len(kept))
        self._unit_counts[batch.fqn] = counts
        self.report.filtered.tables += counts.filtered
        issues = batch.issues if shortfall is None else (*batch.issues, shortfall)
        if counts.filtered == 0 and shortfall is None:
            return batch
        return SchemaBatch(batch.database, batch.schema, tuple(kept), issues, batch.discovered)

    def _count(self, batch: SchemaBatch, databases: set[str]) -> None:
        report = self.report
        if batch.database.name not in databases:
            databases.add(batch.database.name)
            report.databases += 1
        report.schemas += 1
        # summed here and added once per batch: each assignment to the report (a pydantic
        # model) goes through pydantic's __setattr__
        views = sum(1 for table in batch.tables if table.table_type in VIEW_TYPES)
        report.views += views
        report.tables += len(batch.tables) - views
        report.columns += sum(len(table.columns) for table in batch.tables)
        for issue in batch.issues:
            report.add_issue(issue.level, issue.fqn, self.redact(issue.message))
        if any(issue.level == "error" for issue in batch.issues):
            report.units_partial += 1
            self._partial.add(batch.fqn)

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[ObjectReceiveStream[SchemaBatch]]:
        """Run the units; yield a stream of their batches (name order within a schema)."""
        threads = self.config.source.threads
        started = time.perf_counter()
        seen: set[str] = set()
        tracker = self._tracker
        tracker.start()
        try:
            async with self.connector:
                self._discovered = await self.discover()
                units = [d.unit for d in self._discovered if d.skipped_because is None]
                self.report.units_total = len(units)
                tracker.set_phase("extracting")
                send, receive = anyio.create_memory_object_stream[SchemaBatch](threads)
                settings = self.config.workflow
                runner = Runner(
                    self.connector,
                    threads,
                    self.report,
                    self._filter_tables,
                    retries=settings.retries,
                    retry_backoff=settings.retry_backoff,
                    unit_timeout=self.config.source.unit_timeout,
                    redact=self.redact,
                    on_start=tracker.unit_started,
                    on_finish=tracker.unit_finished,
                )
                counting = _Counting(receive, lambda batch: self._count(batch, seen))
                counting.after = tracker.changed
                async with anyio.create_task_group() as tg:
                    tg.start_soon(runner.run, units, send)
                    async with receive:
                        yield counting
                    if not counting.exhausted:  # the caller stopped early: stop the units
                        self.report.cancelled = True
                        tg.cancel_scope.cancel()
                self.report.peak_connections = self.connector.peak_connections()
                if runner.fatal is not None:
                    raise runner.fatal
        except anyio.get_cancelled_exc_class():
            self.report.cancelled = True
            raise
        finally:
            for timing in self.report.units:
                if timing.fqn in self._unit_counts:
                    self._unit_counts[timing.fqn].apply(timing)
            self.report.units.sort(key=lambda u: u.fqn)
            self.report.wall_seconds = round(time.perf_counter() - started, 6)
            tracker.set_phase("finished")

    def scope(self) -> RunScope:
        """What this run read: for sinks that delete what a run no longer sees."""
        source = self.config.source
        ok = {u.fqn for u in self.report.units if u.status == "ok"} - self._partial
        failed = {u.fqn for u in self.report.units} - ok
        plan = Plan(tuple(self._databases), tuple(self._discovered))
        # Only PostgreSQL lists a server's databases; elsewhere the database entity is one
        # fixed name (a config key or a file's stem), so a missing one is an identity change.
        listed = source.type == "postgres" and (
            getattr(source, "database", None) is None and getattr(source, "databases", None) is None
        )
        procedure_filter = Filter.from_config(source.stored_procedure_filter)

        def table_in_scope(name: str, is_view: bool) -> bool:
            wanted = source.include_views if is_view else source.include_tables
            return wanted and self._table_filter(name)

        def procedure_in_scope(name: str) -> bool:
            return source.include_stored_procedures and procedure_filter(name)

        digest = hashlib.sha256(self.config.model_dump_json().encode()).hexdigest()
        return RunScope(
            service=source.service_name,
            plan=plan,
            complete=frozenset(ok),
            failed=frozenset(failed),
            databases_listed=listed,
            database_in_scope=self._database_filter,
            schema_in_scope=self._schema_filter,
            table_in_scope=table_in_scope,
            procedure_in_scope=procedure_in_scope,
            config_digest=digest,
            report=self.report,
        )

    async def run(self) -> Report:
        """Extract everything into the sink; commit it only if the run met its threshold.

        Below the threshold (or on failure, or cancellation) the sink is closed without
        commit: the previous output stays exactly as it was.
        """
        sink = self._sink or create_sink(self.config.sink)
        committed = False
        try:
            if isinstance(sink, OpenableSink):  # a destination that cannot work stops us here
                await sink.open(self.config, self.report)
            async with self.stream() as batches:
                async for batch in batches:
                    await sink.write(batch)
            if self.report.ok:
                # Every batch is in: publish whole. A cancellation arriving now would otherwise
                # interrupt the await while the worker thread still renames the file into place.
                with anyio.CancelScope(shield=True):
                    if isinstance(sink, ScopedSink):
                        await sink.set_scope(self.scope())
                    await sink.aclose(commit=True)
                committed = True
                self.report.published = True
        finally:
            if not committed:
                with anyio.CancelScope(shield=True):
                    await sink.aclose(commit=False)
        return self.report


class _Counting(ObjectReceiveStream[SchemaBatch]):
    """A receive stream that counts each batch into the report as the caller takes it."""

    def __init__(
        self, inner: ObjectReceiveStream[SchemaBatch], count: Callable[[SchemaBatch], None]
    ) -> None:
        self._inner = inner
        self._count = count
        self.after: Callable[[], None] = lambda: None
        self.exhausted = False

    async def receive(self) -> SchemaBatch:
        try:
            batch = await self._inner.receive()
        except anyio.EndOfStream:
            self.exhausted = True
            raise
        self._count(batch)
        self.after()
        return batch

    async def aclose(self) -> None:
        await self._inner.aclose()


async def ingest(config: WorkflowConfig, *, observer: ProgressObserver | None = None) -> Report:
    """Run one ingestion from a validated config and return its report."""
    return await Workflow(config, observer=observer).run()
