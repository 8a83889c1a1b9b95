"""Which event-loop callbacks hold the loop longest, by CPU: ``python -m benchmarks lag-probe``.

One run in this process (``ingest`` with a sink, or ``stream``), with asyncio's ``Handle._run``
wrapped: the CPU time of the loop's thread (``time.thread_time``) spent in each callback, less
the garbage collector's share of it (``gc.callbacks``), and where the task was before and after
that step (its innermost metaingest frame: the segment runs from one await to the next). Prints
the ``top`` longest segments, the GC time, the live GC-tracked objects at their peak
(``len(gc.get_objects())``, sampled every ``sample`` callbacks), and for each full collection
the objects it walked and its CPU and wall time.
"""

from __future__ import annotations

import asyncio.events
import gc
import importlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .catalog import CatalogSize

__all__ = ["probe"]


def _where(callback: Callable[..., Any]) -> str:
    """The innermost metaingest frame (outside ``cooperative``) of the task ``callback`` steps."""
    task = getattr(callback, "__self__", None)
    get_coro = getattr(task, "get_coro", None)
    if get_coro is None:
        return getattr(callback, "__qualname__", repr(callback))[:80]
    coro: Any = get_coro()
    found = "?"
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "ag_frame", None)
        filename = frame.f_code.co_filename if frame is not None else ""
        if "metaingest/" in filename and not filename.endswith("cooperative.py"):
            name = filename.rsplit("metaingest/", 1)[-1]
            found = f"{name}:{frame.f_lineno} {frame.f_code.co_name}"
        coro = getattr(coro, "cr_await", None) or getattr(coro, "ag_await", None)
    return found


class _Probe:
    def __init__(self, sample: int) -> None:
        self.segments: list[tuple[float, float, str, str, float]] = []
        self.gc_cpu = 0.0
        self.gc_longest = 0.0
        self.gc_full_longest = 0.0
        self.tracked_peak = 0
        self.callbacks = 0
        self._sample = sample
        self.full: list[tuple[int, float, float]] = []  # (objects walked, CPU s, wall s)
        self.young_long: list[tuple[int, int, float]] = []  # (generation, collected, CPU s)
        self._gc_start = 0.0
        self._gc_wall = 0.0
        self._walked = 0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            if info["generation"] == 2:  # what this full collection walks (not timed)
                self._walked = len(gc.get_objects())
            self._gc_start, self._gc_wall = time.thread_time(), time.perf_counter()
            return
        cpu = time.thread_time() - self._gc_start
        wall = time.perf_counter() - self._gc_wall
        self.gc_cpu += cpu
        self.gc_longest = max(self.gc_longest, wall)
        if info["generation"] == 2:
            self.gc_full_longest = max(self.gc_full_longest, wall)
            self.full.append((self._walked, cpu, wall))
        elif cpu > 0.005:  # a young collection this long frees a large cycle
            self.young_long.append((info["generation"], info["collected"], cpu))

    def wrap(self, run: Callable[[Any], None]) -> Callable[[Any], None]:
        def timed(handle: Any) -> None:
            callback = handle._callback
            before = _where(callback)
            gc_before, start, wall = self.gc_cpu, time.thread_time(), time.perf_counter()
            run(handle)
            wall = time.perf_counter() - wall
            gc_cpu = self.gc_cpu - gc_before
            cpu = time.thread_time() - start - gc_cpu
            self.segments.append((cpu, gc_cpu, before, _where(callback), wall))
            self.callbacks += 1
            if self.callbacks % self._sample == 0:
                self.tracked_peak = max(self.tracked_peak, len(gc.get_objects()))

        return timed


def probe(
    engine: str,
    size: CatalogSize,
    subject: str,
    gc_policy: str,
    top: int = 12,
    sample: int = 50,
    threads: int = 4,
) -> dict[str, Any]:
    """Run once with the probe; print and return the longest segments."""
    import anyio

    import metaingest
    import metaingest.connectors
    from metaingest.cooperative import release

    from .lag import _spec

    work = Path(tempfile.mkdtemp(prefix="mi_bench_probe_"))
    spec = _spec(engine, size, subject, threads, work)
    config = metaingest.parse_config(spec["config"])
    metaingest.connectors.create_connector(config.source)  # imports the driver, as lag_child
    importlib.import_module("anyio._backends._asyncio")
    state = _Probe(sample)
    original = asyncio.events.Handle._run
    asyncio.events.Handle._run = state.wrap(original)  # type: ignore[method-assign]
    gc.callbacks.append(state.on_gc)
    thresholds = gc.get_threshold()
    if gc_policy == "off":
        gc.disable()
    elif gc_policy == "deferred":
        gc.set_threshold(thresholds[0], thresholds[1], 10**9)
    elif gc_policy == "bounded":
        gc.set_threshold(thresholds[0], 2, 10**9)

    async def main() -> None:
        if spec["mode"] == "ingest":
            await metaingest.ingest(config)
            return
        async with metaingest.stream(config) as batches:
            async for batch in batches:
                tables = list(batch.tables)
                del batch
                await release(tables)

    cpu = time.process_time()
    try:
        anyio.run(main)
    finally:
        cpu = time.process_time() - cpu
        asyncio.events.Handle._run = original  # type: ignore[method-assign]
        gc.callbacks.remove(state.on_gc)
        gc.enable()
        gc.set_threshold(*thresholds)
        shutil.rmtree(work, ignore_errors=True)
    state.segments.sort(key=lambda s: s[0] + s[1], reverse=True)
    out = {
        "engine": engine,
        "catalog": size.tag,
        "subject": subject,
        "gc": gc_policy,
        "cpu_s": round(cpu, 3),
        "callbacks": state.callbacks,
        "gc_cpu_s": round(state.gc_cpu, 3),
        "gc_longest_ms": round(state.gc_longest * 1000, 1),
        "gc_full_longest_ms": round(state.gc_full_longest * 1000, 1),
        "tracked_peak": state.tracked_peak,
        "full_collections": [
            {"objects": n, "cpu_ms": round(c * 1000, 1), "wall_ms": round(w * 1000, 1)}
            for n, c, w in state.full
        ],
        "young_over_5ms": [
            {"generation": g, "collected": n, "cpu_ms": round(c * 1000, 1)}
            for g, n, c in state.young_long
        ],
        "longest": [
            {
                "cpu_ms": round(c * 1000, 2),
                "gc_ms": round(g * 1000, 2),
                "wall_ms": round(w * 1000, 2),
                "from": b,
                "to": a,
            }
            for c, g, b, a, w in state.segments[:top]
        ],
    }
    print(json.dumps(out, indent=1))
    return out


def held(size: CatalogSize, schema_index: int = 0) -> dict[str, Any]:
    """GC-tracked objects a PostgreSQL schema keeps alive once built, and a full collection's
    cost over them: one schema's three catalog queries, then ``build_tables`` (this ``src``)."""
    import anyio
    import asyncpg

    from metaingest.connectors.postgres import build_tables
    from metaingest.connectors.sql import queries
    from metaingest.entities import Database, DatabaseSchema

    from .catalog import PG

    async def main() -> dict[str, Any]:
        conn = await asyncpg.connect(host="127.0.0.1", user=PG["user"], database=size.database)
        sql = queries("postgres")
        name = size.schema_name("postgres", schema_index)
        try:
            rows = [await conn.fetch(sql[q], name) for q in ("relations", "columns", "constraints")]
        finally:
            await conn.close()
        database = Database(name=size.database, service="bench")
        schema = DatabaseSchema(name=name, database=database.fqn)
        gc.collect()
        before = len(gc.get_objects())
        fetched = before
        tables, _ = await build_tables("bench", size.database, schema, *rows)
        gc.collect()
        after = len(gc.get_objects())
        start = time.thread_time()
        gc.collect()
        full = time.thread_time() - start
        del rows
        gc.collect()
        entities_only = len(gc.get_objects())
        return {
            "catalog": size.tag,
            "tables": len(tables),
            "tracked_with_rows_fetched": fetched,
            "tracked_after_build": after,
            "tracked_entities_only": entities_only,
            "full_collection_cpu_ms": round(full * 1000, 1),
        }

    gc.collect()
    out: dict[str, Any] = {"tracked_before": len(gc.get_objects())}
    out |= anyio.run(main)
    print(json.dumps(out))
    return out
