"""The Sink protocol: ``write(batch)`` for each schema, then ``aclose(commit=...)`` once.

Sinks are called from one task only, so they need no locks. ``aclose(commit=True)`` makes
the output visible (atomically where the medium allows); ``aclose(commit=False)`` — the
default, used on failure, cancellation and for a run below its success threshold — leaves
the previous output exactly as it was. ``aclose`` is idempotent. The workflow commits only a
run that completed and met ``workflow.success_threshold``: commit is the only way output
becomes visible.

A sink that keeps state between runs and may delete what a run no longer sees (the catalog
store, an OpenMetadata server) also implements ``ScopedSink.set_scope``: just before a commit
the workflow hands it the run's ``RunScope`` — what was discovered, filtered, read whole or
failed — so that it deletes only inside what this run read completely.

A sink that writes somewhere a run can check beforehand (a file path) also implements
``CheckedSink.check``: the workflow calls it before connecting to the source, so a target
that cannot be written fails the run at once (``ConfigError``), with nothing extracted.

Whatever a sink raises leaves ``Workflow.run()`` as one ``SinkError`` (the sink's own
exception is its ``__cause__``), and the previous output stays as it was.

A sink whose destination can be checked up front (a server: URL, TLS, token) also implements
``OpenableSink.open``: the workflow calls it once, before the source is touched, so a
destination that cannot work stops the run before any extraction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from metaingest.config import WorkflowConfig
from metaingest.connectors.base import SchemaBatch
from metaingest.plan import Plan
from metaingest.report import Report

__all__ = ["CheckedSink", "OpenableSink", "RunScope", "ScopedSink", "Sink"]


class Sink(Protocol):
    """Receives schema batches and publishes them when the run completes."""

    async def write(self, batch: SchemaBatch) -> None:
        """Take one schema's batch."""
        ...

    async def aclose(self, *, commit: bool = False) -> None:
        """Publish what was written (commit) or discard it; safe to call more than once."""
        ...


@dataclass(frozen=True, slots=True)
class RunScope:
    """What one run read, for sinks that delete what is gone.

    - ``plan``: every database and schema discovery listed, each with why it was skipped
      (filtered) or None; a database's schemas appear only if its schema list was read.
    - ``complete``: FQNs of the schemas delivered whole in this run (unit ok, no error-level
      issue): only inside these may a table or view be deleted.
    - ``failed``: FQNs of the schemas that failed, timed out or arrived with errors.
    - ``databases_listed``: True when the service's database listing was read in full (False
      when the config names the databases, or the source has one fixed database entity:
      a database missing from the run is then out of scope, not gone).
    - ``database_in_scope(name)``, ``schema_in_scope(name)``: False when this run's filters
      drop such a database or schema (out of scope, not deleted).
    - ``table_in_scope(name, is_view)``: False when this run's table filter or
      include_tables / include_views drops such a relation.
    - ``procedure_in_scope(name)``: likewise for stored procedures.
    - ``config_digest``: a digest of the workflow config, secrets excluded.
    """

    service: str
    plan: Plan
    complete: frozenset[str]
    failed: frozenset[str]
    databases_listed: bool
    database_in_scope: Callable[[str], bool]
    schema_in_scope: Callable[[str], bool]
    table_in_scope: Callable[[str, bool], bool]
    procedure_in_scope: Callable[[str], bool]
    config_digest: str
    report: Report


@runtime_checkable
class ScopedSink(Sink, Protocol):
    """A sink that is told the run's scope before it commits (to delete safely)."""

    async def set_scope(self, scope: RunScope) -> None:
        """Receive the run's scope; called once, only for a run about to be committed."""
        ...


@runtime_checkable
class CheckedSink(Sink, Protocol):
    """A sink that can check its target before the run connects to anything."""

    def check(self) -> None:
        """Raise ``ConfigError`` when the output cannot be written; write nothing."""
        ...


@runtime_checkable
class OpenableSink(Sink, Protocol):
    """A sink that checks its destination before the run reads anything."""

    async def open(self, config: WorkflowConfig, report: Report) -> None:
        """Check the destination (raise ConfigError if unusable); keep the run's report."""
        ...
