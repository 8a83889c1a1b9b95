"""What discovery found: every database and schema, each kept or skipped (and why).

Shared by the workflow (which builds it), the dry run (which prints it) and stateful sinks
(which must tell a dropped object from one that was filtered out or not read).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from metaingest.connectors.base import Unit
from metaingest.entities import Database

__all__ = ["DiscoveredDatabase", "DiscoveredUnit", "Plan", "empty_message"]


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


def empty_message(databases: Sequence[DiscoveredDatabase], units: Sequence[DiscoveredUnit]) -> str:
    """One line: what discovery found, and which filter (or privilege) dropped it all."""
    line = f"nothing to extract: discovered {len(databases)} database(s) and {len(units)} schema(s)"
    drops = []
    filtered = [d.skipped_because for d in databases if d.skipped_because and not d.denied]
    if filtered:
        drops.append(f"source.database_filter dropped {len(filtered)} ({_reasons(filtered)})")
    denied = sum(1 for d in databases if d.denied)
    if denied:
        drops.append(f"{denied} refused CONNECT")
    dropped = [u.skipped_because for u in units if u.skipped_because]
    if dropped:
        drops.append(f"source.schema_filter dropped {len(dropped)} ({_reasons(dropped)})")
    if drops:
        line += ": " + "; ".join(drops)
    return line + " (set workflow.allow_empty: true if an empty run is expected)"


def _reasons(reasons: Sequence[str | None]) -> str:
    counts = Counter(reasons).most_common()
    shown = ", ".join(f"{n} {reason}" for reason, n in counts[:3])
    return shown + (f", {len(counts) - 3} more reasons" if len(counts) > 3 else "")
