"""Discovery: list databases and their schemas, with the units' classification and backoff.

Listing goes through ``metaingest.retry`` like a unit does: a transient error (too many
connections, a statement or lock timeout, a killed backend, a network blip, nothing
listening yet) is retried with the same budget (``workflow.retries``) and backoff. A port
where nothing listens therefore fails after the retries' backoff (about 2-4 s with the
defaults), still with one line naming host and port; ``retries: 0`` fails at once.

The database listing is all or nothing: if it fails the run stops (``SourceError``). Once
it succeeded, a database whose schema listing fails (after retries, or at once when the
database disappeared meanwhile) is that database's failure, not the run's: it is kept as a
``DiscoveredDatabase`` skipped because its listing failed, reported as an error with its
FQN and counted as a failed unit, and the other databases go on. Only authentication stays
fatal, and so does any failure when the source has a single database: there is nothing
else to go on with.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio

from metaingest.connectors import Connector, Unit
from metaingest.entities import Database
from metaingest.errors import SourceError
from metaingest.filters import Filter
from metaingest.plan import DiscoveredDatabase, DiscoveredUnit
from metaingest.report import Report
from metaingest.retry import backoff, classify, original
from metaingest.runner import describe

__all__ = ["Discovered", "discover", "list_databases", "list_schemas", "with_retries"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class Discovered:
    """What discovery found, and how many databases could not be listed."""

    databases: list[DiscoveredDatabase] = field(default_factory=list)
    units: list[DiscoveredUnit] = field(default_factory=list)
    failed: int = 0
    listed: int = 0  # databases the source listed, filtered ones included


async def with_retries(
    call: Callable[[], Awaitable[T]],
    what: str,
    retries: int,
    retry_backoff: float,
    redact: Callable[[str], str],
) -> T:
    """Await ``call()``; retry it after a backoff while it fails with a transient error."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call()
        except Exception as exc:
            if classify(exc) != "retriable":
                raise
            if attempt > retries:
                if attempt > 1 and isinstance(exc, SourceError):
                    raise SourceError(f"{exc} (gave up after {attempt} attempts)") from exc
                raise
            delay = backoff(attempt, retry_backoff)
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.2f s",
                what,
                attempt,
                describe(original(exc), redact),
                delay,
                extra={"fqn": what},
            )
            await anyio.sleep(delay)


async def list_databases(
    connector: Connector[Any],
    database_filter: Filter,
    report: Report,
    *,
    retries: int,
    retry_backoff: float,
    redact: Callable[[str], str],
) -> tuple[Discovered, list[Database]]:
    """List the databases: the filtered ones go into ``Discovered``, the kept ones are returned."""
    out = Discovered()
    listed = await with_retries(
        connector.list_databases, connector.service_name, retries, retry_backoff, redact
    )
    kept = []
    for database in sorted(listed, key=lambda d: d.name):
        reason = database_filter.reason(database.name)
        if reason is not None:
            out.databases.append(DiscoveredDatabase(database, reason))
            report.filtered.databases += 1
            log.info("%s: filtered: %s", database.fqn, reason, extra={"fqn": database.fqn})
        else:
            kept.append(database)
    out.listed = len(listed)
    return out, kept


async def discover(
    connector: Connector[Any],
    database_filter: Filter,
    schema_filter: Filter,
    report: Report,
    *,
    retries: int,
    retry_backoff: float,
    redact: Callable[[str], str],
) -> Discovered:
    """List every schema of every database, each marked with why it is skipped."""
    out, kept = await list_databases(
        connector,
        database_filter,
        report,
        retries=retries,
        retry_backoff=retry_backoff,
        redact=redact,
    )
    return await list_schemas(
        connector,
        out,
        kept,
        schema_filter,
        report,
        retries=retries,
        retry_backoff=retry_backoff,
        redact=redact,
    )


async def list_schemas(
    connector: Connector[Any],
    out: Discovered,
    databases: list[Database],
    schema_filter: Filter,
    report: Report,
    *,
    retries: int,
    retry_backoff: float,
    redact: Callable[[str], str],
) -> Discovered:
    """List the schemas of ``databases`` one after another, into ``out`` (name order)."""
    for database in databases:
        try:
            schemas = await with_retries(
                partial(connector.list_schemas, database),
                database.fqn,
                retries,
                retry_backoff,
                redact,
            )
        except Exception as exc:
            if out.listed == 1 or classify(exc, unit=True) == "fatal":
                raise
            message = f"schema listing failed: {describe(original(exc), redact)}"
            log.error("%s: %s", database.fqn, message, extra={"fqn": database.fqn})
            report.add_issue("error", database.fqn, message)
            report.units_failed += 1
            out.failed += 1
            out.databases.append(DiscoveredDatabase(database, message))
            continue
        out.databases.append(DiscoveredDatabase(database, None))
        for schema in sorted(schemas, key=lambda s: s.name):
            reason = schema_filter.reason(schema.name)
            if reason is not None:
                report.filtered.schemas += 1
            out.units.append(DiscoveredUnit(Unit(database, schema), reason))
    out.databases.sort(key=lambda d: d.database.name)
    return out
