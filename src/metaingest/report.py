"""The run report: counters, a capped list of issues, per-unit timings, the success rate.

The report is plain data (a pydantic model) so it serialises to JSON as it is. Only the
runner and the workflow write to it, all from the event loop's thread.

``issues`` keeps the first ``MAX_ISSUES`` in memory; the rest go to an anonymous temporary
file (deleted by the OS when the report is gone), so memory stays bounded however many
objects fail, and ``write_report`` still writes every issue to the report file. Errors are
kept before warnings: once the list is full, an error takes the place of the last warning
kept (which is spilled), so the summary shows every error up to ``MAX_ISSUES``.
"""

from __future__ import annotations

import json
import os
import tempfile
import weakref
from collections.abc import Iterator
from typing import IO, Literal

from pydantic import BaseModel, Field, PrivateAttr, computed_field

__all__ = ["Filtered", "Issue", "Report", "UnitTiming", "write_report"]

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
    # relations the connector listed (None: it does not say), and what became of them
    discovered: int | None = None
    delivered: int = 0
    filtered: int = 0
    failed: int = 0


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
    stored_procedures: int = 0
    filtered: Filtered = Field(default_factory=Filtered)
    warnings: int = 0
    errors: int = 0
    units_total: int = 0
    units_ok: int = 0
    units_failed: int = 0
    units_partial: int = 0  # delivered, but with table-level errors: not counted as success
    peak_connections: int = 0
    wall_seconds: float = 0.0
    cancelled: bool = False
    discovery_done: bool = False  # discovery finished: units_total is known
    published: bool = False  # the sink committed this run's output
    issues: list[Issue] = Field(default_factory=list)
    issues_dropped: int = 0
    units: list[UnitTiming] = Field(default_factory=list)
    _spill: IO[str] | None = PrivateAttr(default=None)

    def add_issue(self, level: Literal["warning", "error"], fqn: str, message: str) -> None:
        """Count an issue and keep it, unless MAX_ISSUES are kept already."""
        if level == "error":
            self.errors += 1
        else:
            self.warnings += 1
        issue = Issue(level=level, fqn=fqn, message=message)
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(issue)
            return
        if level == "error" and self.errors <= MAX_ISSUES:
            issue = self._make_room(issue)
        self._spill_issue(issue)

    def _make_room(self, error: Issue) -> Issue:
        """Keep ``error`` in place of the last warning kept; return the one to spill."""
        for index in range(len(self.issues) - 1, -1, -1):
            if self.issues[index].level == "warning":
                warning = self.issues.pop(index)
                self.issues.append(error)
                return warning
        return error

    def _spill_issue(self, issue: Issue) -> None:
        self.issues_dropped += 1
        if self._spill is None:  # lives as long as the report; closed when it is collected
            self._spill = tempfile.TemporaryFile("w+", encoding="utf-8", prefix="metaingest-")  # noqa: SIM115
            weakref.finalize(self, self._spill.close)
        self._spill.write(issue.model_dump_json() + "\n")

    def all_issues(self) -> Iterator[Issue]:
        """Every issue: the ones kept in ``issues``, then the ones spilled to disk."""
        yield from self.issues
        spill = self._spill
        if spill is None:
            return
        spill.flush()
        spill.seek(0)
        try:
            for line in spill:
                yield Issue.model_validate_json(line)
        finally:
            spill.seek(0, os.SEEK_END)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def success_pct(self) -> float:
        """Percentage of units delivered whole: no unit-level failure, no table-level error."""
        if self.units_total == 0:
            return 100.0
        return round(100.0 * (self.units_ok - self.units_partial) / self.units_total, 2)

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


def write_report(report: Report, out: IO[str]) -> None:
    """Write the report as JSON with every issue, streaming the ones spilled to disk."""
    data = report.model_dump(mode="json", exclude={"issues", "issues_dropped"})
    head = json.dumps(data, indent=2, ensure_ascii=False)
    out.write(head[:-2] + ',\n  "issues": [')
    for index, issue in enumerate(report.all_issues()):
        out.write(("\n    " if index == 0 else ",\n    ") + issue.model_dump_json())
    out.write("\n  ]\n}\n" if report.issues else "]\n}\n")
