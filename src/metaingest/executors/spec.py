"""What crosses the wire for one unit: a picklable spec in, an outcome out.

A ``UnitSpec`` carries everything a process needs to extract one unit on its own: the
source's config (credentials included, as ``SecretStr``), the unit, the retry and timeout
settings, and the run's id and position (for the task key, never a secret). A
``UnitOutcome`` carries the batch, or the one-line reasons it is missing, back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.report import Issue

__all__ = ["UnitOutcome", "UnitSpec"]


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """One unit of one source, with the settings to extract it anywhere."""

    source: Any  # a validated SourceConfig
    unit: Unit
    retries: int
    retry_backoff: float
    unit_timeout: float | None
    run_id: str
    source_index: int
    unit_index: int
    # cluster-wide connection cap of the source (its threads) and the lease's lifetime
    max_connections: int = 1
    lease_timeout: float = 60.0

    @property
    def key(self) -> str:
        """The task key: run and position only, never a name or a credential."""
        return f"metaingest-{self.run_id}-s{self.source_index}-u{self.unit_index}"

    @property
    def semaphore(self) -> str:
        """The name of the source's connection semaphore on the cluster."""
        return f"metaingest-{self.run_id}-s{self.source_index}-connections"


@dataclass(frozen=True, slots=True)
class UnitOutcome:
    """A unit's batch (None when it failed), its attempts, and what went wrong."""

    batch: SchemaBatch | None
    attempts: int
    issues: tuple[Issue, ...] = field(default=())
    # a fatal error stops the whole run: its one-line message and whether it was a SourceError
    fatal: str | None = None
    fatal_is_source: bool = False
