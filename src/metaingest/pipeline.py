"""Discovery pipelined with extraction, for sources with several databases.

``DiscoveryFeed`` hands the runner its work one slot at a time: a unit of a database already
listed when there is one (or a group of its small schemas, read in one round:
``metaingest.connectors.grouping``), else a job that lists the next database's schemas (the
job holds the runner slot it was given, so discovery's connections count within ``threads``
like the units'). A listed database's units go to the front of the queue: the next free slot takes
them while the connection that listed them is idle in the pool for that database, and
reuses it. So the first schemas are extracted while later databases are still being listed,
and listings run concurrently, never more than ``threads`` connections in all.

Discovery's semantics are those of ``metaingest.discovery``: each listing is retried on a
transient error with the same budget and backoff; a database whose listing still fails is
kept as skipped, reported and counted as a failed unit, and the others go on; an
authentication failure (fatal) stops the run. When every listing is done the feed calls
``on_done`` with the complete ``Discovered`` (databases and units in name order), before
the runner can end, so the plan a stateful sink sees at commit is complete.
"""

from __future__ import annotations

import logging
from collections import Counter, deque
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import anyio

from metaingest.connectors import Connector, Unit
from metaingest.connectors.grouping import plan_groups
from metaingest.discovery import Discovered, with_retries
from metaingest.entities import Database, DatabaseSchema
from metaingest.filters import Filter
from metaingest.plan import DiscoveredDatabase, DiscoveredUnit
from metaingest.report import Report
from metaingest.retry import classify, original
from metaingest.runner import Group, Job, describe

__all__ = ["DiscoveryFeed"]

log = logging.getLogger(__name__)


class DiscoveryFeed:
    """The runner's work for several databases: listings and units, units of listed first."""

    def __init__(
        self,
        connector: Connector[Any],
        databases: Sequence[Database],
        schema_filter: Filter,
        report: Report,
        on_done: Callable[[Discovered], None],
        *,
        retries: int,
        retry_backoff: float,
        redact: Callable[[str], str],
    ) -> None:
        self._connector = connector
        self._pending = deque(sorted(databases, key=lambda d: d.name))
        self._schema_filter = schema_filter
        self._report = report
        self._on_done = on_done
        self._retries = retries
        self._retry_backoff = retry_backoff
        self._redact = redact
        self._queue: deque[Group] = deque()
        self._listing = 0
        self._changed = anyio.Event()
        self._found: dict[str, tuple[DiscoveredDatabase, list[DiscoveredUnit]]] = {}
        self._failed = 0
        self._busy: Counter[str] = Counter()  # units running, by database

    async def take(self) -> Group | Job | None:
        """The next units to extract, or a listing job, or None when all work was handed out."""
        while True:
            group = self._idle_group()
            if group is not None:
                self._busy[group[0].database.name] += len(group)
                return group
            if self._pending:
                self._listing += 1
                return partial(self._list, self._pending.popleft())
            if self._queue:  # every database left is busy: units on a connection of their own
                group = self._queue.popleft()
                self._busy[group[0].database.name] += len(group)
                return group
            if self._listing == 0:
                return None
            await self._changed.wait()

    def finished(self, unit: Unit) -> None:
        """A unit is done: its database's connection is idle in the pool again."""
        self._busy[unit.database.name] -= 1

    def _idle_group(self) -> Group | None:
        """The first queued units of a database with no unit running (its connection is idle)."""
        for i, group in enumerate(self._queue):
            if not self._busy[group[0].database.name]:
                del self._queue[i]
                return group
        return None

    async def _list(self, database: Database) -> None:
        try:
            schemas = await self._schemas(database)
            if schemas is not None:
                self._add(database, schemas)
        finally:
            self._listing -= 1
            if not self._pending and self._listing == 0:
                self._finish()
            self._changed.set()
            self._changed = anyio.Event()

    async def _schemas(self, database: Database) -> list[DatabaseSchema] | None:
        try:
            return await with_retries(
                partial(self._connector.list_schemas, database),
                database.fqn,
                self._retries,
                self._retry_backoff,
                self._redact,
            )
        except Exception as exc:
            if classify(exc, unit=True) == "fatal":
                raise
            message = f"schema listing failed: {describe(original(exc), self._redact)}"
            log.error("%s: %s", database.fqn, message, extra={"fqn": database.fqn})
            report = self._report
            report.add_issue("error", database.fqn, message)
            report.units_failed += 1
            report.units_total += 1
            self._failed += 1
            self._found[database.name] = (DiscoveredDatabase(database, message), [])
            return None

    def _add(self, database: Database, schemas: list[DatabaseSchema]) -> None:
        found = []
        kept = []
        for schema in sorted(schemas, key=lambda s: s.name):
            reason = self._schema_filter.reason(schema.name)
            if reason is not None:
                self._report.filtered.schemas += 1
            else:
                kept.append(Unit(database, schema))
            found.append(DiscoveredUnit(Unit(database, schema), reason))
        self._found[database.name] = (DiscoveredDatabase(database, None), found)
        self._report.units_total += len(kept)
        # first, in name order: its connection is idle. Small schemas are grouped without
        # regard to threads: the other databases' listings and units fill the other slots.
        self._queue.extendleft(reversed(plan_groups(self._connector, kept)))

    def _finish(self) -> None:
        out = Discovered(failed=self._failed)
        for name in sorted(self._found):
            database, units = self._found[name]
            out.databases.append(database)
            out.units.extend(units)
        self._on_done(out)
