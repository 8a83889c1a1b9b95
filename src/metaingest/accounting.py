"""No silent partial success: every relation a connector listed is accounted for.

A connector says how many relations its listing query found (``SchemaBatch.discovered``).
Each of them must end up delivered, dropped by a filter, or named by an issue of its own
(a table that could not be built, a broken view). ``account`` checks that per unit; a
difference is an error issue naming the schema, never a quietly shorter output.
"""

from __future__ import annotations

from dataclasses import dataclass

from metaingest.connectors.base import SchemaBatch
from metaingest.report import Issue, UnitTiming

__all__ = ["UnitCounts", "account"]


@dataclass(frozen=True, slots=True)
class UnitCounts:
    """What became of one unit's relations."""

    discovered: int | None
    delivered: int
    filtered: int
    failed: int

    def apply(self, timing: UnitTiming) -> None:
        """Copy the counts onto the unit's entry in the report."""
        timing.discovered = self.discovered
        timing.delivered = self.delivered
        timing.filtered = self.filtered
        timing.failed = self.failed


def account(extracted: SchemaBatch, delivered: int) -> tuple[UnitCounts, Issue | None]:
    """Counts for a batch of which ``delivered`` tables passed the filters; an issue if short."""
    failed = 0
    if extracted.issues:  # the tables' FQNs are needed only to tell issues apart
        own = {table.fqn for table in extracted.tables}
        prefix = extracted.fqn + "."
        failed = len({i.fqn for i in extracted.issues if i.fqn.startswith(prefix)} - own)
    filtered = len(extracted.tables) - delivered
    counts = UnitCounts(extracted.discovered, delivered, filtered, failed)
    if extracted.discovered is None:
        return counts, None
    missing = extracted.discovered - (delivered + filtered + failed)
    if missing == 0:
        return counts, None
    message = (
        f"{extracted.discovered} relations listed but {delivered} delivered, {filtered} "
        f"filtered and {failed} reported: {abs(missing)} "
        + ("unaccounted for" if missing > 0 else "more than listed")
    )
    return counts, Issue(level="error", fqn=extracted.fqn, message=message)
