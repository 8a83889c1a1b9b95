"""One run beside a ticker in a fresh process: ``python -m benchmarks.lag_child '<json spec>'``.

The host application is played by a ticker task that sleeps ``period`` seconds in a loop
and records how late each wake-up was (its *lag*: measured sleep minus ``period``). Beside it
runs ``await metaingest.ingest(config)`` (``mode`` "ingest", the config's sink) or
``metaingest.stream(config)`` drained by the caller (``mode`` "stream", no sink). Only the
public API is used, so the same child measures any commit's ``src`` (the A/B baseline).
``gc`` is the host's policy during the run (metaingest never sets one): "default" is
CPython's; "deferred" keeps the young generations' thresholds but defers full collections
(third threshold 10**9), as a latency-sensitive host would, collecting in its idle time;
"bounded" is "deferred" with the middle generation collected after 2 young collections
instead of 10 (so each of its collections walks a fifth as many objects; every object is
still walked once per generation, so the total is the same); "off" disables the collector
(what remains is what metaingest's own code holds the loop for).

Prints one JSON line: wall and CPU of the run (every thread), the ticks' lag p50/p99/max,
the most CPU the loop's thread spent between two ticks, the longest garbage collection
during the run and the number of full ones, peak RSS.
"""

from __future__ import annotations

import gc
import importlib
import json
import resource
import statistics
import sys
import time
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _GcWatch:
    """The longest collection (s) and the count of full ones, from ``gc.callbacks``."""

    def __init__(self) -> None:
        self.longest = 0.0
        self.full = 0
        self._start = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
            return
        self.longest = max(self.longest, time.perf_counter() - self._start)
        self.full += info["generation"] == 2


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(spec: dict[str, Any]) -> dict[str, Any]:
    """Run the spec once; return the measurement."""
    import anyio

    import metaingest
    import metaingest.connectors

    try:
        from metaingest.cooperative import release
    except ImportError:  # a baseline before metaingest.cooperative
        release = None  # type: ignore[assignment]

    config = metaingest.parse_config(spec["config"])
    metaingest.connectors.create_connector(config.source)  # imports the driver
    importlib.import_module("anyio._backends._asyncio")
    period = float(spec.get("period", 0.005))
    mode = spec["mode"]
    gc_policy = spec.get("gc", "default")
    lags: list[float] = []
    busy: list[float] = []
    out: dict[str, Any] = {}
    watch = _GcWatch()

    async def ticker() -> None:
        while True:
            start, held = time.perf_counter(), time.thread_time()
            await anyio.sleep(period)
            lags.append(time.perf_counter() - start - period)
            # CPU the loop's thread spent meanwhile: a late tick with little of it was
            # waiting for a CPU (2 shared CPUs), not held up by code on the loop
            busy.append(time.thread_time() - held)

    async def workload() -> None:
        if mode == "idle":  # the ticker alone: the lag the machine itself causes
            await anyio.sleep(float(spec.get("seconds", 2.0)))
            out.update(tables=0, errors=0, ok=True)
            return
        if mode == "ingest":
            report = await metaingest.ingest(config)
        else:
            workflow = metaingest.Workflow(config)
            async with workflow.stream() as batches:
                async for batch in batches:
                    # what README ("Python API") advises for large batches: drop the batch,
                    # release its tables in slices (the baseline has no release: all at once)
                    tables = list(batch.tables)
                    del batch
                    if release is not None:
                        await release(tables)
            report = workflow.report
        out["tables"] = report.tables + report.views
        out["errors"] = report.errors
        out["ok"] = report.ok

    async def main() -> None:
        async with anyio.create_task_group() as tg:
            tg.start_soon(ticker)
            await anyio.sleep(period * 4)  # the ticker is in its loop
            del lags[:], busy[:]
            gc.callbacks.append(watch)
            thresholds = gc.get_threshold()
            if gc_policy == "off":
                gc.disable()
            elif gc_policy == "deferred":  # young generations as usual, no full collection
                gc.set_threshold(thresholds[0], thresholds[1], 10**9)
            elif gc_policy == "bounded":  # deferred, and the middle generation kept small
                gc.set_threshold(thresholds[0], 2, 10**9)
            start, cpu = time.perf_counter(), _cpu()
            await workload()
            out["wall"], out["cpu"] = time.perf_counter() - start, _cpu() - cpu
            gc.enable()
            gc.set_threshold(*thresholds)
            gc.callbacks.remove(watch)
            tg.cancel_scope.cancel()

    anyio.run(main)
    ms = [lag * 1000 for lag in lags] or [0.0]
    out.update(
        ticks=len(lags),
        lag_p50_ms=statistics.median(ms),
        lag_p99_ms=_quantile(ms, 0.99),
        lag_max_ms=max(ms),
        busy_max_ms=max(busy, default=0.0) * 1000,
        gc_longest_ms=watch.longest * 1000,
        gc_full=watch.full,
        max_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    )
    return out


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))), flush=True)
