"""The end-of-run summary: a table of counts, then the first issues, one line each.

Plain text when stdout is not a terminal (stable for scripts and logs); a rich table on a
terminal. Both show the same cells and the same issue lines, and end with what was
published — or that nothing was, and why (``outcome``).
"""

from __future__ import annotations

from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from metaingest.report import Issue, Report
from metaingest.workflow import Plan

__all__ = [
    "MAX_ISSUES_SHOWN",
    "failure_reason",
    "outcome",
    "print_plan",
    "print_summary",
    "rich_summary",
    "summary_cells",
]

MAX_ISSUES_SHOWN = 20


def _state(report: Report) -> str:
    return "interrupted" if report.cancelled else ("ok" if report.ok else "FAILED")


def failure_reason(report: Report) -> str:
    """Why the run is not ok (interrupted, strict warnings, below the threshold)."""
    if report.cancelled:
        if not report.discovery_done:
            return "the run was interrupted before discovery finished"
        return "the run was interrupted"
    if report.strict and report.warnings:
        return f"{report.warnings} warning(s) with --strict (workflow.strict)"
    failed = report.units_failed + report.units_partial
    return (
        f"success {report.success_pct:.1f} % is below workflow.success_threshold "
        f"{report.success_threshold:g} % ({failed} of {report.units_total} schema(s) failed)"
    )


def outcome(report: Report, target: str | None) -> str:
    """What the run published, or that it published nothing and why: one line."""
    where = target or "the sink"
    if report.published:
        return f"wrote {where}"
    reason = failure_reason(report) if not report.ok else "the sink did not commit"
    return f"nothing was published ({reason}): {where} keeps its previous content"


def summary_cells(report: Report) -> list[tuple[str, str]]:
    """The summary table as (heading, value) pairs, in display order."""
    filtered = report.filtered
    procedures = [("procedures", str(report.stored_procedures))] if report.stored_procedures else []
    return [
        ("databases", str(report.databases)),
        ("schemas", str(report.schemas)),
        ("tables", str(report.tables)),
        ("views", str(report.views)),
        ("columns", str(report.columns)),
        *procedures,
        ("filtered", str(filtered.databases + filtered.schemas + filtered.tables)),
        ("errors", str(report.errors)),
        ("warnings", str(report.warnings)),
        # no rate when discovery never finished: the number of units is not known
        ("success", f"{report.success_pct:.1f} %" if report.discovery_done else "-"),
        ("wall", f"{report.wall_seconds:.2f} s"),
        ("peak conn", str(report.peak_connections)),
    ]


def _shown_issues(report: Report, report_path: str | None) -> tuple[list[Issue], str]:
    """The first issues to show, errors before warnings, and the line that heads them."""
    ordered = sorted(report.issues, key=lambda issue: issue.level != "error")
    shown = ordered[:MAX_ISSUES_SHOWN]
    total = report.errors + report.warnings
    counts = f"{report.errors} error(s), {report.warnings} warning(s)"
    if len(shown) == total:
        return shown, f"issues ({counts}):"
    where = f"all of them in {report_path}" if report_path else "--report PATH keeps them all"
    return shown, f"issues ({counts}; first {len(shown)} shown, errors first; {where}):"


def print_summary(
    report: Report, out: TextIO, report_path: str | None = None, target: str | None = None
) -> None:
    """The plain summary: a headline, the counts as two aligned rows, the first issues, and
    what was published."""
    out.write(f"metaingest: {_state(report)} (threads {report.threads})\n")
    cells = summary_cells(report)
    widths = [max(len(head), len(value)) for head, value in cells]
    out.write("  " + "  ".join(h.rjust(w) for (h, _), w in zip(cells, widths, strict=True)) + "\n")
    out.write("  " + "  ".join(v.rjust(w) for (_, v), w in zip(cells, widths, strict=True)) + "\n")
    if report.errors + report.warnings:
        shown, heading = _shown_issues(report, report_path)
        out.write(heading + "\n")
        for issue in shown:
            out.write(f"  {issue.level}: {issue.fqn}: {issue.message}\n")
    out.write(outcome(report, target) + "\n")


def rich_summary(
    report: Report, console: Console, report_path: str | None = None, target: str | None = None
) -> None:
    """The same summary as a rich table, for a terminal."""
    state = _state(report)
    style = "green" if state == "ok" else ("yellow" if state == "interrupted" else "bold red")
    console.print(Text.assemble("metaingest: ", (state, style), f" (threads {report.threads})"))
    table = Table(box=box.SIMPLE, show_header=False, padding=(0, 1))
    table.add_column("metric")
    table.add_column("value", justify="right", style="bold")
    for heading, value in summary_cells(report):
        table.add_row(heading, value)
    console.print(table)
    if report.errors + report.warnings:
        shown, heading = _shown_issues(report, report_path)
        console.print(Text(heading))
        for issue in shown:
            level_style = "red" if issue.level == "error" else "yellow"
            console.print(
                Text.assemble("  ", (issue.level, level_style), f": {issue.fqn}: {issue.message}"),
                overflow="fold",
            )
    line = outcome(report, target)
    console.print(Text(line, style="" if report.published else "bold red"), overflow="fold")


def print_plan(plan: Plan, out: TextIO) -> None:
    """A dry run's result: the schemas a run would extract, then what the filters drop."""
    kept = [item.unit.fqn for item in plan.units if item.skipped_because is None]
    databases = {item.unit.database.name for item in plan.units if item.skipped_because is None}
    out.write(
        f"dry run: would extract {len(kept)} schema(s) in {len(databases)} database(s); "
        "nothing was extracted\n"
    )
    for fqn in kept:
        out.write(f"  extract  {fqn}\n")
    denied = [d for d in plan.databases if d.denied]
    if denied:
        out.write(f"not readable ({len(denied)}):\n")
        for found in denied:
            out.write(f"  skip     database {found.database.fqn}: {found.skipped_because}\n")
    dropped = [
        ("database", d.database.fqn, d.skipped_because)
        for d in plan.databases
        if d.skipped_because is not None and not d.denied
    ] + [
        ("schema", u.unit.fqn, u.skipped_because)
        for u in plan.units
        if u.skipped_because is not None
    ]
    if dropped:
        out.write(f"filtered out ({len(dropped)}):\n")
        for kind, fqn, reason in dropped:
            out.write(f"  skip     {kind} {fqn}: {reason}\n")
