"""The per-source section of a fleet run's summary: one aligned row per source."""

from __future__ import annotations

from typing import IO

from metaingest.report import Report

__all__ = ["print_sources", "source_rows"]

_HEADINGS = ("source", "type", "state", "units", "tables", "views", "errors", "success", "conns")


def source_rows(report: Report) -> list[tuple[str, ...]]:
    """One row of cells per source, in config order, headings first."""
    rows: list[tuple[str, ...]] = [_HEADINGS]
    for source in report.sources:
        rows.append(
            (
                source.service,
                source.type,
                source.state,
                f"{source.units_ok}/{source.units_total}",
                str(source.tables),
                str(source.views),
                str(source.errors),
                f"{source.success_pct:.1f} %",
                str(source.peak_connections),
            )
        )
    return rows


def print_sources(report: Report, out: IO[str]) -> None:
    """Per source: its verdict against the threshold and its counts; then why any failed."""
    rows = source_rows(report)
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADINGS))]
    out.write(f"sources ({len(report.sources)}; the overall success rate decides the exit code):\n")
    for row in rows:
        out.write("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + "\n")
    for source in report.sources:
        if source.error is not None:
            out.write(f"  {source.service}: {source.error}\n")
