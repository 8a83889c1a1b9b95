"""What discovery found: every database and schema, each kept or skipped (and why).

Shared by the workflow (which builds it), the dry run (which prints it) and stateful sinks
(which must tell a dropped object from one that was filtered out or not read).
"""

from __future__ import annotations

from dataclasses import dataclass

from metaingest.connectors.base import Unit
from metaingest.entities import Database

__all__ = ["DiscoveredDatabase", "DiscoveredUnit", "Plan"]


@dataclass(frozen=True, slots=True)
class DiscoveredUnit:
    """A schema found by discovery, and why it is skipped (None when it will be extracted)."""

    unit: Unit
    skipped_because: str | None


@dataclass(frozen=True, slots=True)
class DiscoveredDatabase:
    """A database found by discovery, and why it is skipped (None when its schemas are read).

    ``denied``: skipped because the user may not connect to it (not read; not filtered).
    """

    database: Database
    skipped_because: str | None
    denied: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """What a run would do: every database and schema discovered, each kept or skipped."""

    databases: tuple[DiscoveredDatabase, ...]
    units: tuple[DiscoveredUnit, ...]
