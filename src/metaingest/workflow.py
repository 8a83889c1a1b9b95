"""Wires a validated config to a connector, the runner, a sink and the report.

``Workflow.stream()`` is the core: discover, filter, run the units, and yield batches to
the caller through a bounded stream. ``Workflow.run()`` drains that stream into the sink
and commits it only when the run completed and met its success threshold. Both raise one
exception of ``metaingest.errors``, never an exception group (``metaingest.boundary``).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import anyio
from anyio.abc import ObjectReceiveStream

from . import cooperative, preflight
from .accounting import UnitCounts, account
from .boundary import single_error
from .config import WorkflowConfig
from .connectors import Connector, SchemaBatch, Unit, create_connector
from .ddl import with_ddl
from .discovery import Discovered, discover, list_databases, list_schemas
from .entities import VIEW_TYPES
from .errors import ConfigError, EmptyRunError, MetaingestError
from .executors.select import new_run_id, open_executor, unit_runner
from .filters import Filter
from .hints import describe_source
from .observe import Progress, ProgressObserver, ProgressTracker
from .pipeline import DiscoveryFeed
from .plan import DiscoveredDatabase, DiscoveredUnit, Plan, empty_message
from .preload import preload
from .redact import Redactor
from .report import Report
from .runner import Runner
from .sinks import CheckedSink, OpenableSink, RunScope, ScopedSink, Sink, create_sink
from .sinks.guard import discard, sink_call, sink_name

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
    """One ingestion run of a validated config. Use once: make a new one for another run."""

    def __init__(
        self,
        config: WorkflowConfig,
        connector: Connector[Any] | None = None,
        sink: Sink | None = None,
        *,
        observer: ProgressObserver | None = None,
        client: Any = None,
    ) -> None:
        if config.sources is not None:
            raise ConfigError("sources: a fleet runs with metaingest.Fleet (or ingest())")
        self.config = config
        self._client = client  # a distributed.Client from an embedding application
        source = config.source
        self.connector: Connector[Any] = connector or create_connector(source)
        self._sink = sink
        self.report = Report(
            threads=source.threads,
            success_threshold=config.workflow.success_threshold,
            strict=config.workflow.strict,
        )
        self.redact = Redactor.for_source(source)
        self._tracker = ProgressTracker(self.report, observer)
        self._databases: list[DiscoveredDatabase] = []
        self._discovered: list[DiscoveredUnit] = []
        self._unit_counts: dict[str, UnitCounts] = {}
        self._partial: set[str] = set()
        self._listing_failures = 0  # databases whose schemas could not be listed
        self._database_filter = Filter.from_config(source.database_filter)
        self._schema_filter = Filter.from_config(
            source.schema_filter, SYSTEM_SCHEMAS.get(source.type, ())
        )
        self._table_filter = Filter.from_config(source.table_filter)
        self._procedure_filter = Filter.from_config(source.stored_procedure_filter)
        self._started = False

    def _start(self) -> None:
        """Mark the workflow used: its connector (and pool) is closed after one run."""
        if self._started:
            raise MetaingestError(
                "this Workflow has run already (its connections are closed): "
                "make a new Workflow(config) for another run"
            )
        self._started = True

    async def discover(self) -> list[DiscoveredUnit]:
        """List every schema of every database, each marked with why it is skipped.

        Transient errors are retried as units' are; a database whose schema listing failed
        is kept as skipped, reported and counted as a failed unit (``metaingest.discovery``).
        """
        settings = self.config.workflow
        found = await discover(
            self.connector,
            self._database_filter,
            self._schema_filter,
            self.report,
            retries=settings.retries,
            retry_backoff=settings.retry_backoff,
            redact=self.redact,
        )
        return self._found(found)

    def _found(self, found: Discovered) -> list[DiscoveredUnit]:
        self._databases.extend(found.databases)
        self._databases.sort(key=lambda d: d.database.name)
        self._listing_failures = found.failed
        return found.units

    async def plan(self) -> Plan:
        """Discover and filter without extracting; the connector must be open."""
        self._databases = []
        units = await self.discover()
        await self._note_denied()
        return Plan(tuple(self._databases), tuple(units))

    async def _note_denied(self) -> None:
        """Add the databases the user may not connect to, as skipped (not filtered)."""
        for database in await preflight.connect_denied(self.connector):
            reason = self._database_filter.reason(database.name)
            if reason is None:  # a database the filters drop anyway is only filtered
                reason = f"no CONNECT privilege for user {self._user()!r}"
                self._databases.append(DiscoveredDatabase(database, reason, denied=True))
        self._databases.sort(key=lambda d: d.database.name)

    def _user(self) -> str:
        return str(getattr(self.config.source, "username", ""))

    async def dry_run(self) -> Plan:
        """Connect, discover and filter, extract nothing, write nothing; then disconnect."""
        self._start()
        with single_error():
            async with self.connector:
                return await self.plan()

    def progress(self) -> Progress:
        """A snapshot of the run's progress (also what the observer receives)."""
        return self._tracker.snapshot()

    def _filter_tables(self, batch: SchemaBatch) -> SchemaBatch:
        source = self.config.source
        table_filter = self._table_filter
        # nothing to test: a large schema's tables are not visited one by one (~1 us each)
        everything = source.include_tables and source.include_views
        everything = everything and not (table_filter.includes or table_filter.excludes)
        kept = list(batch.tables) if everything else []
        for table in () if everything else batch.tables:
            is_view = table.table_type in VIEW_TYPES
            wanted = source.include_views if is_view else source.include_tables
            if wanted and self._table_filter(table.name):
                kept.append(table)
        counts, shortfall = account(batch, len(kept))
        self._unit_counts[batch.fqn] = counts
        self.report.filtered.tables += counts.filtered
        issues = batch.issues if shortfall is None else (*batch.issues, shortfall)
        procedures = tuple(p for p in batch.procedures if self._procedure_filter(p.routine_name))
        if source.include_ddl:
            kept = with_ddl(kept, source)
        elif counts.filtered == 0 and shortfall is None and procedures == batch.procedures:
            return batch
        return SchemaBatch(
            batch.database, batch.schema, tuple(kept), issues, batch.discovered, procedures
        )

    async def _count(self, batch: SchemaBatch, databases: set[str]) -> None:
        # summed first, in slices (~10 ms for 10,000 tables on a loaded machine; one pass: a
        # large schema's tables are far apart in memory), then added to the report at once,
        # so that a cancellation meanwhile counts nothing of the batch: each assignment to the
        # report (a pydantic model) goes through pydantic's __setattr__
        views = columns = 0
        async for chunk in cooperative.chunks(batch.tables):
            for table in chunk:
                views += table.table_type in VIEW_TYPES
                columns += len(table.columns)
        report = self.report
        if batch.database.name not in databases:
            databases.add(batch.database.name)
            report.databases += 1
        report.schemas += 1
        report.views += views
        report.tables += len(batch.tables) - views
        report.columns += columns
        if batch.procedures:
            report.stored_procedures += len(batch.procedures)
        for issue in batch.issues:
            report.add_issue(issue.level, issue.fqn, self.redact(issue.message))
        if any(issue.level == "error" for issue in batch.issues):
            report.units_partial += 1
            self._partial.add(batch.fqn)

    @asynccontextmanager
    async def stream(self) -> AsyncIterator[ObjectReceiveStream[SchemaBatch]]:
        """Run the units; yield a stream of their batches (name order within a schema).

        Raises one exception of ``metaingest.errors`` (an exception the caller raises in its
        own body comes out as it is); ``EmptyRunError`` when nothing passes the filters.
        """
        self._start()
        own: list[BaseException] = []
        with single_error(own):
            async with self._stream() as batches:
                try:
                    yield batches
                except BaseException as exc:
                    own.append(exc)
                    raise

    @asynccontextmanager
    async def _stream(self) -> AsyncIterator[_Counting]:
        threads = self.config.source.threads
        started = time.perf_counter()
        seen: set[str] = set()
        tracker = self._tracker
        tracker.start()
        try:
            async with self.connector, open_executor(self.config.executor, self._client) as ex:
                # on a cluster, discovery is done before units go out (its connections close)
                units = await self._prepare(pipelined=ex is None)
                tracker.set_phase("extracting")
                send, receive = anyio.create_memory_object_stream[SchemaBatch](threads)
                settings = self.config.workflow
                remote = None
                if ex is not None:  # units run on the cluster; retries happen there
                    await self.connector.aclose()  # discovery's connections: the cap is theirs
                    remote = await unit_runner(
                        ex,
                        self.config.source,
                        retries=settings.retries,
                        retry_backoff=settings.retry_backoff,
                        run_id=new_run_id(),
                        source_index=0,
                    )
                runner = Runner(
                    self.connector,
                    threads if ex is None else threads + ex.window,
                    self.report,
                    self._filter_tables,
                    retries=settings.retries,
                    retry_backoff=settings.retry_backoff,
                    unit_timeout=self.config.source.unit_timeout,
                    redact=self.redact,
                    on_start=tracker.unit_started,
                    on_finish=tracker.unit_finished,
                    remote=remote,
                )
                counting = _Counting(receive, partial(self._count, databases=seen))
                counting.after = tracker.changed
                consumer_error: MetaingestError | None = None
                async with anyio.create_task_group() as tg:
                    tg.start_soon(runner.run, units, send)
                    async with receive:
                        try:
                            yield counting
                        except MetaingestError as exc:  # the sink failed: raised below, whole
                            consumer_error = exc  # (not wrapped in the task group's group)
                    if not counting.exhausted:  # the caller stopped early: stop the units
                        self.report.cancelled = consumer_error is None
                        tg.cancel_scope.cancel()
                if consumer_error is not None:
                    raise consumer_error
                if runner.fatal is not None:
                    raise runner.fatal
                if isinstance(units, DiscoveryFeed) and counting.exhausted:
                    self._check_empty()
        except anyio.get_cancelled_exc_class():
            self.report.cancelled = True
            raise
        finally:
            # also for a failed or interrupted run: the summary shows what was really open
            self.report.peak_connections = self.connector.peak_connections()
            for timing in self.report.units:
                if timing.fqn in self._unit_counts:
                    self._unit_counts[timing.fqn].apply(timing)
            self.report.units.sort(key=lambda u: u.fqn)
            self.report.wall_seconds = round(time.perf_counter() - started, 6)
            tracker.set_phase("finished")

    async def _prepare(self, pipelined: bool = True) -> list[Unit] | DiscoveryFeed:
        """Discover and filter; report what privileges hide; the units to extract.

        With several databases to list (and ``pipelined``), a feed that lists them while
        units run instead.
        """
        report = self.report
        source = self.config.source
        if log.isEnabledFor(logging.INFO):
            version = await self.connector.server_version()
            log.info("connected to %s: %s", describe_source(self.config)[3], version)
        settings = self.config.workflow
        retries, retry_backoff = settings.retries, settings.retry_backoff
        found, kept = await list_databases(
            self.connector,
            self._database_filter,
            report,
            redact=self.redact,
            retries=retries,
            retry_backoff=retry_backoff,
        )
        await self._note_denied()
        for denied in self._databases:
            if denied.denied:
                fqn = denied.database.fqn
                report.add_issue("warning", fqn, f"skipped: {denied.skipped_because}")
        if len(kept) > 1 and pipelined:  # list and extract at once (metaingest.pipeline)
            if source.threads > 1:
                warning = await preflight.capacity_warning(self.connector, kept[0], source.threads)
                if warning is not None:
                    log.warning("%s", warning)
            self._found(found)
            return DiscoveryFeed(
                self.connector,
                kept,
                self._schema_filter,
                report,
                self._discovered_all,
                redact=self.redact,
                retries=retries,
                retry_backoff=retry_backoff,
            )
        found = await list_schemas(
            self.connector,
            found,
            kept,
            self._schema_filter,
            report,
            redact=self.redact,
            retries=retries,
            retry_backoff=retry_backoff,
        )
        self._discovered = self._found(found)
        units = [d.unit for d in self._discovered if d.skipped_because is None]
        self._discovery_done(len(units))
        if not units and not self._listing_failures and not self.config.workflow.allow_empty:
            raise EmptyRunError(empty_message(self._databases, self._discovered))
        grants = await preflight.column_grants(self.connector, units, self._table_filter)
        for issue in grants:
            report.add_issue(issue.level, issue.fqn, issue.message)
        if units and source.threads > 1:
            warning = await preflight.capacity_warning(
                self.connector, units[0].database, source.threads
            )
            if warning is not None:
                log.warning("%s", warning)
        return units

    def _discovered_all(self, found: Discovered) -> None:
        """The pipelined discovery finished (before the runner ends): the plan is complete."""
        self._discovered = self._found(found)
        self._discovery_done(sum(1 for d in self._discovered if d.skipped_because is None))

    def _discovery_done(self, units: int) -> None:
        report = self.report
        # a database whose schemas could not be listed counts as a failed unit
        report.units_total = units + self._listing_failures
        report.discovery_done = True
        log.info(
            "discovered %d database(s) and %d schema(s); filtered out %d database(s) and "
            "%d schema(s); %d schema(s) to extract",
            len(self._databases),
            len(self._discovered),
            report.filtered.databases,
            report.filtered.schemas,
            units,
        )

    def _check_empty(self) -> None:
        """After a pipelined run: nothing passed the filters (as ``_prepare`` checks)."""
        units = any(d.skipped_because is None for d in self._discovered)
        if not units and not self._listing_failures and not self.config.workflow.allow_empty:
            raise EmptyRunError(empty_message(self._databases, self._discovered))

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
        commit: the previous output stays exactly as it was. A sink that can check its
        target is checked before anything connects. Raises one exception of
        ``metaingest.errors``; whatever the sink raises arrives as a ``SinkError``.
        """
        self._start()
        if self._sink is None:
            await preload(self.config)
        sink = self._sink or create_sink(self.config.sink, self.config.workflow)
        with single_error():
            if isinstance(sink, CheckedSink):
                await anyio.to_thread.run_sync(sink.check)
            committed = False
            error: BaseException | None = None
            try:
                if isinstance(sink, OpenableSink):  # a destination that cannot work stops here
                    await sink.open(self.config, self.report)  # its ConfigError stays one
                async with self._stream() as batches:
                    async for batch in batches:
                        await sink_call(
                            self.redact, sink, f"write of {batch.fqn}", sink.write(batch)
                        )
                        tables = list(batch.tables)
                        del batch  # the entities go in slices, not at the next batch's turn
                        await cooperative.release(tables)
                if self.report.ok:
                    # Every batch is in: publish whole. A cancellation arriving now would
                    # otherwise interrupt the await while the worker thread still renames the
                    # file into place.
                    with anyio.CancelScope(shield=True):
                        if isinstance(sink, ScopedSink):
                            await sink_call(
                                self.redact, sink, "set_scope", sink.set_scope(self.scope())
                            )
                        await sink_call(self.redact, sink, "commit", sink.aclose(commit=True))
                    committed = True
                    self.report.published = True
                    log.info(
                        "published %s: %d database(s), %d schema(s), %d table(s), %d view(s)",
                        sink_name(sink),
                        self.report.databases,
                        self.report.schemas,
                        self.report.tables,
                        self.report.views,
                    )
            except BaseException as exc:
                error = exc
                raise
            finally:
                if not committed:
                    await discard(self.redact, sink, error)
        return self.report


class _Counting(ObjectReceiveStream[SchemaBatch]):
    """A receive stream that counts each batch into the report as the caller takes it."""

    def __init__(
        self,
        inner: ObjectReceiveStream[SchemaBatch],
        count: Callable[[SchemaBatch], Awaitable[None]],
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
        await self._count(batch)
        self.after()
        return batch

    async def aclose(self) -> None:
        await self._inner.aclose()


async def ingest(
    config: WorkflowConfig,
    *,
    sink: Sink | None = None,
    observer: ProgressObserver | None = None,
    client: Any = None,
) -> Report:
    """Run one ingestion (one source, or a fleet of ``sources``) and return its report.

    Into ``sink``, else the config's sink; ``client``: a ``distributed.Client`` to run the
    units on (the dask executor).
    """
    await preload(config)  # the driver's and the sink's imports, off the loop's thread
    if config.sources is not None:
        from .fleet import Fleet

        return await Fleet(config, sink, observer=observer, client=client).run()
    return await Workflow(config, sink=sink, observer=observer, client=client).run()
