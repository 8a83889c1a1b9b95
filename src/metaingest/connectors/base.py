"""The Connector protocol, the unit of work, and the batch a unit produces.

A connector is an async context manager with a handful of async methods:

- ``list_databases()`` and ``list_schemas(database)``: discovery, names only, cheap;
- ``connection(database)``: an async context manager lending one dedicated source
  connection (a *slot*); the runner holds exactly one per running unit;
- ``extract(unit, connection)``: one schema in a constant number of catalog queries;
- ``aclose()``: idempotent; closes every connection;
- ``server_version()`` and ``probe(unit, connection)``: for ``test-connection``.

Connectors never see sinks, filters of tables or the report: the runner and the workflow
do that, in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol, Self, TypeVar

from metaingest.entities import Database, DatabaseSchema, Table, quote_name
from metaingest.report import Issue
from metaingest.routines import StoredProcedure

__all__ = ["Connector", "SchemaBatch", "Unit", "build_isolated", "table_fqn"]

ConnT = TypeVar("ConnT")
T = TypeVar("T")

_MAX_MESSAGE = 500


@dataclass(frozen=True, slots=True)
class Unit:
    """One unit of work: a schema of a database."""

    database: Database
    schema: DatabaseSchema

    @property
    def fqn(self) -> str:
        """The schema's fully qualified name."""
        return self.schema.fqn


@dataclass(frozen=True, slots=True)
class SchemaBatch:
    """Everything extracted for one unit: the schema, its tables and its routines."""

    database: Database
    schema: DatabaseSchema
    tables: tuple[Table, ...]
    issues: tuple[Issue, ...] = field(default=())
    # How many relations the connector's listing query found (None: the connector does not
    # say); the workflow checks that each was delivered, filtered or reported as failed.
    discovered: int | None = None
    # the schema's stored procedures and functions, in name order
    procedures: tuple[StoredProcedure, ...] = field(default=())

    @property
    def fqn(self) -> str:
        """The schema's fully qualified name."""
        return self.schema.fqn


class Connector(Protocol[ConnT]):
    """What the workflow and the runner need from a source."""

    service_name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...

    async def list_databases(self) -> list[Database]:
        """The databases the source exposes (before filters)."""
        ...

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        """The schemas of one database (before filters)."""
        ...

    def connection(self, database: Database) -> AbstractAsyncContextManager[ConnT]:
        """Lend one dedicated source connection to ``database`` for one unit."""
        ...

    async def extract(self, unit: Unit, connection: ConnT) -> SchemaBatch:
        """Extract one schema with a constant number of catalog queries."""
        ...

    def peak_connections(self) -> int:
        """The most source connections that were open at once so far."""
        ...

    async def aclose(self) -> None:
        """Close every connection; safe to call more than once."""
        ...

    async def server_version(self) -> str:
        """The server's product and version; connects (and fails) as discovery would."""
        ...

    async def probe(self, unit: Unit, connection: ConnT) -> None:
        """Check cheaply that the unit's catalog can be read; raise when it cannot."""
        ...


def table_fqn(schema_fqn: str, name: object) -> str:
    """FQN of a table from its schema's FQN and its name (any value: a bad row may hold one)."""
    return f"{schema_fqn}.{quote_name(str(name))}"


def build_isolated(fqn: str, build: Callable[[], T], issues: list[Issue]) -> T | None:
    """Build one table's entity; a failure becomes an error issue for ``fqn``, not the schema's.

    Building is pure Python over rows already fetched, so whatever it raises means a row
    this code did not expect: that table is reported and left out, its siblings go on.
    """
    try:
        return build()
    except Exception as exc:
        text = " ".join(str(exc).split())
        message = (
            f"cannot build entity: {type(exc).__name__}: {text}" if text else type(exc).__name__
        )
        issues.append(Issue(level="error", fqn=fqn, message=message[:_MAX_MESSAGE]))
        return None
