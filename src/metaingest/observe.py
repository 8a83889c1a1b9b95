"""Progress of a run as it goes: a typed snapshot and the observer hook that receives it.

``Workflow(config, observer=callback)`` calls ``callback(progress)`` on the event loop's
thread each time the run changes: discovery ends, a unit starts or finishes, a batch is
counted, the run ends. A callback must be quick and must not block (it runs inside the
run); to redraw at a fixed rate, keep the latest snapshot and render it from elsewhere.
An observer that raises is logged once and then dropped; the run goes on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from metaingest.connectors.base import Unit
from metaingest.report import Report

__all__ = ["Phase", "Progress", "ProgressObserver", "ProgressTracker"]

log = logging.getLogger(__name__)

Phase = Literal["discovering", "extracting", "finished"]


@dataclass(frozen=True, slots=True)
class Progress:
    """A snapshot of a run: units done of the total, entities so far, units in flight."""

    phase: Phase
    units_total: int
    units_done: int
    units_failed: int
    tables: int
    elapsed: float
    in_flight: tuple[str, ...]
    # a fleet run: (service, units done, units total, failed) per source, in config order
    sources: tuple[tuple[str, int, int, int], ...] = ()

    @property
    def fraction(self) -> float:
        """Units done over units total, 0.0 to 1.0 (1.0 once finished)."""
        if self.units_total == 0:
            return 1.0 if self.phase == "finished" else 0.0
        return self.units_done / self.units_total

    @property
    def tables_per_second(self) -> float:
        """Tables and views delivered per second of wall time so far."""
        return self.tables / self.elapsed if self.elapsed > 0 else 0.0


class ProgressObserver(Protocol):
    """Receives a ``Progress`` snapshot each time a run changes; must return quickly."""

    def __call__(self, progress: Progress, /) -> None:
        """Take one snapshot (on the event loop's thread; do not block)."""


class ProgressTracker:
    """Keeps the units in flight and hands a fresh snapshot to the observer on each change."""

    def __init__(
        self,
        report: Report,
        observer: ProgressObserver | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._report = report
        self._observer = observer
        self._clock = clock
        self._t0 = clock()
        self._phase: Phase = "discovering"
        self._in_flight: dict[str, None] = {}  # insertion-ordered set

    def snapshot(self) -> Progress:
        """The run as it stands now."""
        report = self._report
        return Progress(
            phase=self._phase,
            units_total=report.units_total,
            units_done=report.units_ok + report.units_failed,
            units_failed=report.units_failed,
            tables=report.tables + report.views,
            elapsed=self._clock() - self._t0,
            in_flight=tuple(self._in_flight),
        )

    def start(self) -> None:
        """The run begins: discovery."""
        self._t0 = self._clock()
        self._phase = "discovering"
        self._in_flight.clear()
        self.changed()

    def set_phase(self, phase: Phase) -> None:
        """The run moved on to ``phase``."""
        self._phase = phase
        if phase == "finished":
            self._in_flight.clear()
        self.changed()

    def unit_started(self, unit: Unit) -> None:
        """A unit took its slot."""
        self._in_flight[unit.fqn] = None
        self.changed()

    def unit_finished(self, unit: Unit) -> None:
        """A unit gave its slot back (delivered, failed or cancelled)."""
        self._in_flight.pop(unit.fqn, None)
        self.changed()

    def changed(self) -> None:
        """Tell the observer, if there is one."""
        observer = self._observer
        if observer is None:
            return
        try:
            observer(self.snapshot())
        except Exception:
            log.exception("progress observer failed; it is dropped for the rest of the run")
            self._observer = None
