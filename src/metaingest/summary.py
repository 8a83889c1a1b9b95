"""The end-of-run summary: a table of counts, then the first issues, one line each.

Plain text when stdout is not a terminal (stable for scripts and logs); a rich table on a
terminal. Both show the same cells and the same issue lines.
"""

from __future__ import annotations

from typing import TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from metaingest.report import Issue, Report
from metaingest.workflow import Plan

__all__ = ["MAX_ISSUES_SHOWN", "print_plan", "print_summary", "rich_summary", "summary_cells"]

MAX_ISSUES_SHOWN = 20


def _state(report: Report) -> str:
    return "interrupted" if report.cancelled else ("ok" if report.ok else "FAILED")


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
        ("warnings", str(report.warnings)),
        ("errors", str(report.errors)),
        ("success", f"{report.success_pct:.1f} %"),
        ("wall", f"{report.wall_seconds:.2f} s"),
        ("peak conn", str(report.peak_connections)),
    ]


def _shown_issues(report: Report, report_path: str | None) -> tuple[list[Issue], str]:
    """The first issues to show, errors before warnings, and the line that heads them."""
    ordered = sorted(report.issues, key=lambda issue: issue.level != "error")
    shown = ordered[:MAX_ISSUES_SHOWN]
    total = report.errors + report.warnings
    if len(shown) == total:
        return shown, f"issues ({total}):"
    where = f"all of them in {report_path}" if report_path else "--report PATH keeps them all"
    return shown, f"issues (first {len(shown)} of {total}; {where}):"


def print_summary(report: Report, out: TextIO, report_path: str | None = None) -> None:
    """The plain summary: a headline, the counts as two aligned rows, the first issues."""
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


def rich_summary(report: Report, console: Console, report_path: str | None = None) -> None:
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
    dropped = [
        ("database", d.database.fqn, d.skipped_because)
        for d in plan.databases
        if d.skipped_because is not None
    ] + [
        ("schema", u.unit.fqn, u.skipped_because)
        for u in plan.units
        if u.skipped_because is not None
    ]
    if dropped:
        out.write(f"filtered out ({len(dropped)}):\n")
        for kind, fqn, reason in dropped:
            out.write(f"  skip     {kind} {fqn}: {reason}\n")
