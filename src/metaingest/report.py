"""The run report: counters, a capped list of issues, per-unit timings, the success rate.

The report is plain data (a pydantic model) so it serialises to JSON as it is. Only the
runner and the workflow write to it, all from the event loop's thread.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, computed_field

__all__ = ["Filtered", "Issue", "Report", "UnitTiming"]

MAX_ISSUES = 1000


class Issue(BaseModel):
    """One problem, named by the FQN of the object it concerns."""

    level: Literal["warning", "error"]
    fqn: str
    message: str


class Filtered(BaseModel):
    """How many objects the filters dropped, by kind."""

    databases: int = 0
    schemas: int = 0
    tables: int = 0


class UnitTiming(BaseModel):
    """When one unit (database, schema) ran, in seconds since the run started."""

    fqn: str
    start: float
    end: float
    status: Literal["ok", "error"]
    tables: int = 0
    attempts: int = 1


class Report(BaseModel):
    """What a run saw, delivered, dropped and failed on."""

    threads: int = 1
    success_threshold: float = 100.0
    strict: bool = False
    databases: int = 0
    schemas: int = 0
    tables: int = 0
    views: int = 0
    columns: int = 0
    filtered: Filtered = Field(default_factory=Filtered)
    warnings: int = 0
    errors: int = 0
    units_total: int = 0
    units_ok: int = 0
    units_failed: int = 0
    peak_connections: int = 0
    wall_seconds: float = 0.0
    cancelled: bool = False
    issues: list[Issue] = Field(default_factory=list)
    issues_dropped: int = 0
    units: list[UnitTiming] = Field(default_factory=list)

    def add_issue(self, level: Literal["warning", "error"], fqn: str, message: str) -> None:
        """Count an issue and keep it, unless MAX_ISSUES are kept already."""
        if level == "error":
            self.errors += 1
        else:
            self.warnings += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(level=level, fqn=fqn, message=message))
        else:
            self.issues_dropped += 1

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_pct(self) -> float:
        """Percentage of units delivered without a unit-level failure."""
        if self.units_total == 0:
            return 100.0
        return round(100.0 * self.units_ok / self.units_total, 2)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def ok(self) -> bool:
        """True when the run finished and met the success threshold (and, if strict, warned
        about nothing)."""
        if self.cancelled or (self.strict and self.warnings):
            return False
        return self.success_pct >= self.success_threshold

    def exit_code(self) -> int:
        """0 when the run met the threshold, 1 when it did not, 130 when it was cancelled."""
        if self.cancelled:
            return 130
        return 0 if self.ok else 1
