"""Progress displays for the command line, fed by the workflow's progress observer.

Both displays only keep the latest ``Progress`` when the observer calls them (cheap, on
every change) and draw at their own pace from ``run()``, a task the CLI starts beside the
workflow, so the cost of a display does not grow with the number of units:

- ``LiveDisplay``: on a terminal, a rich live line redrawn a few times a second: a bar,
  units done / total, percent, tables and tables per second, elapsed time, and the
  schemas in flight;
- ``LogDisplay``: otherwise, one plain log line (logger ``metaingest.progress``) every
  ``interval`` seconds.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from types import TracebackType
from typing import Self

import anyio
from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from metaingest.observe import Progress

__all__ = ["LiveDisplay", "LogDisplay", "describe_progress"]

progress_log = logging.getLogger("metaingest.progress")

_IDLE = Progress("discovering", 0, 0, 0, 0, 0.0, ())


def _elapsed(seconds: float) -> str:
    return str(timedelta(seconds=int(seconds)))


def _in_flight(names: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(names[:limit])
    more = len(names) - limit
    return f"{shown} (+{more} more)" if more > 0 else shown


def describe_progress(progress: Progress) -> str:
    """One plain line: units, percent, tables and rate, elapsed, in flight."""
    line = (
        f"{progress.units_done}/{progress.units_total} units ({100 * progress.fraction:.0f} %), "
        f"{progress.tables} tables ({progress.tables_per_second:.1f}/s), "
        f"{_elapsed(progress.elapsed)} elapsed"
    )
    if progress.units_failed:
        line += f", {progress.units_failed} failed"
    if progress.phase == "discovering":
        line += ", discovering"
    elif progress.in_flight:
        line += f", in flight: {_in_flight(progress.in_flight)}"
    if progress.sources:
        line += "; sources: " + ", ".join(_per_source(progress))
    return line


def _per_source(progress: Progress) -> list[str]:
    """``service done/total`` (and failures) for each source of a fleet run."""
    return [
        f"{service} {done}/{total}" + (f" ({failed} failed)" if failed else "")
        for service, done, total, failed in progress.sources
    ]


class LiveDisplay:
    """A live progress line on a terminal; use as a context manager around the run."""

    def __init__(self, console: Console, refresh: float = 0.25) -> None:
        self._console = console
        self._refresh = refresh
        self._latest = _IDLE
        self._live = Live(
            console=console, auto_refresh=False, redirect_stdout=True, redirect_stderr=True
        )

    def __call__(self, progress: Progress) -> None:
        """Observer: keep the latest snapshot."""
        self._latest = progress

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.draw()
        self._live.stop()

    async def run(self) -> None:
        """Redraw every ``refresh`` seconds until cancelled."""
        while True:
            self.draw()
            await anyio.sleep(self._refresh)

    def draw(self) -> None:
        """Render the latest snapshot now."""
        self._live.update(self.render(self._latest), refresh=True)

    def render(self, progress: Progress) -> Group:
        """The display for one snapshot."""
        total = progress.units_total if progress.phase != "discovering" else None
        bar = ProgressBar(total=total, completed=progress.units_done, width=30)
        grid = Table.grid(padding=(0, 1))
        grid.add_row(
            Text("ingest", style="bold"),
            bar,
            Text(f"{progress.units_done}/{progress.units_total} units"),
            Text(f"{100 * progress.fraction:3.0f} %", style="bold"),
            Text(f"{progress.tables} tables"),
            Text(f"{progress.tables_per_second:.1f} tables/s"),
            Text(_elapsed(progress.elapsed), style="cyan"),
        )
        if progress.phase == "discovering":
            status = "discovering databases and schemas"
        elif progress.phase == "finished":
            status = "done" + (f", {progress.units_failed} failed" if progress.units_failed else "")
        else:
            status = "in flight: " + _in_flight(progress.in_flight, limit=len(progress.in_flight))
        line = Text("  " + status, style="dim", no_wrap=True, overflow="ellipsis")
        if progress.sources:
            per_source = Text("  sources: " + ", ".join(_per_source(progress)), overflow="fold")
            return Group(grid, per_source, line)
        return Group(grid, line)


class LogDisplay:
    """One progress log line every ``interval`` seconds, for a non-terminal stdout."""

    def __init__(self, interval: float = 5.0) -> None:
        self._interval = interval
        self._latest = _IDLE
        progress_log.setLevel(logging.INFO)  # shown whatever the root level; --quiet stops it

    def __call__(self, progress: Progress) -> None:
        """Observer: keep the latest snapshot."""
        self._latest = progress

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    async def run(self) -> None:
        """Log the latest snapshot every ``interval`` seconds until cancelled."""
        while True:
            await anyio.sleep(self._interval)
            self.draw()

    def draw(self) -> None:
        """Log the latest snapshot now."""
        progress = self._latest
        progress_log.info(
            "progress: %s",
            describe_progress(progress),
            extra={
                "units_done": progress.units_done,
                "units_total": progress.units_total,
                "tables": progress.tables,
                "elapsed": round(progress.elapsed, 3),
                "in_flight": list(progress.in_flight),
            },
        )
