"""What the catalog store costs: ``python -m benchmarks store``.

Two measurements, each a fresh child process per run (``benchmarks.child``), PostgreSQL
source at threads 4, results in ``results/<date>-store.json``:

- **ratios** on the 40x50x12 catalog, repetitions interleaved: the command line into JSONL
  (the reference), then into a new SQLite store and again unchanged, then into a new
  PostgreSQL store (database ``mi_bench_store``) and again unchanged. Each store run is
  divided by the JSONL run of the same repetition.
- **scaling**: for each catalog size, a first run into a new SQLite store, then two re-runs
  with 10 tables changed before each (a column added, then dropped again), then one unchanged
  re-run; per run the store's write time (``Publisher.write_seconds``: the statements that
  write and the commit), rows written, the sink's whole time (comparisons included), wall and
  peak RSS. The catalog sizes' tables must exist (``python -m benchmarks catalog``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from . import catalog
from .catalog import PG, CatalogSize
from .measure import Sampler, measure, metaingest_spec, new_app_name, snapshot_source, summarise
from .sweep import RESULTS, _environment, _exists, _write

__all__ = ["ratios", "run_timed", "scaling"]

STORE_DB = "mi_bench_store"
THREADS = 4


def _with_sink(spec: dict[str, Any], url: str, kind: str | None = None) -> dict[str, Any]:
    config = dict(spec["config"])
    config["sink"] = {"type": "catalog", "url": url}
    config["workflow"] = {"delete_threshold": 100}
    return {"kind": kind or spec["kind"], "config": config}


async def _pg(statement: str, database: str = "postgres") -> list[Any]:
    import asyncpg

    conn = await asyncpg.connect(database=database, timeout=10, **PG)
    try:
        if ";" in statement:  # a script: no rows
            await conn.execute(statement)
            return []
        return list(await conn.fetch(statement))
    finally:
        await conn.close()


async def _fresh_pg_store() -> str:
    await _pg(f'DROP DATABASE IF EXISTS "{STORE_DB}" WITH (FORCE)')
    await _pg(f'CREATE DATABASE "{STORE_DB}"')
    return f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{STORE_DB}"


async def ratios(reps: int) -> Path:
    """Store runs / JSONL run on the 40x50x12 catalog; results/<date>-store.json."""
    size = CatalogSize(40, 50, 12)
    if not await _exists(size):
        await catalog.build_postgres(size)
    source = snapshot_source()
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="mi_bench_store_"))
    async with Sampler("postgres") as sampler:

        async def one(subject: str, spec: dict[str, Any], rep: int) -> dict[str, Any]:
            app = spec["config"]["source"]["application_name"]
            load1 = os.getloadavg()[0]
            result = await measure(spec, sampler, app)
            row = {"subject": subject, "rep": rep, "load1": round(load1, 2), **result}
            rows.append(row)
            print(
                f"{subject} rep {rep}: {result['wall']:.3f} s, CPU {result['cpu']:.3f} s, "
                f"{result['max_rss_mb']:.1f} MB, load {load1:.1f}"
            )
            return row

        def spec() -> dict[str, Any]:
            app = new_app_name()
            return metaingest_spec("postgres", size, 5432, THREADS, app, str(tmp / "x.jsonl"))

        for rep in range(-1, reps):  # rep -1: an unrecorded warm-up
            await one("jsonl", spec(), rep)
            sqlite = tmp / f"store-{rep}.db"
            url = f"sqlite+aiosqlite:///{sqlite}"
            await one("sqlite-first", _with_sink(spec(), url), rep)
            await one("sqlite-unchanged", _with_sink(spec(), url), rep)
            url = await _fresh_pg_store()
            await one("postgres-first", _with_sink(spec(), url), rep)
            await one("postgres-unchanged", _with_sink(spec(), url), rep)
    await _pg(f'DROP DATABASE IF EXISTS "{STORE_DB}" WITH (FORCE)')
    recorded = [r for r in rows if r["rep"] >= 0]
    summary: dict[str, Any] = {}
    for subject in ("sqlite-first", "sqlite-unchanged", "postgres-first", "postgres-unchanged"):
        for measure_, suffix in (("wall", ""), ("cpu", " cpu")):
            per_rep = []
            for rep in range(reps):
                base = next(r for r in recorded if r["rep"] == rep and r["subject"] == "jsonl")
                run = next(r for r in recorded if r["rep"] == rep and r["subject"] == subject)
                per_rep.append(run[measure_] / base[measure_])
            summary[subject + suffix] = summarise(per_rep)
    for subject in (
        "jsonl",
        "sqlite-first",
        "sqlite-unchanged",
        "postgres-first",
        "postgres-unchanged",
    ):
        for key, label in (("wall", "wall s"), ("cpu", "cpu s"), ("max_rss_mb", "peak RSS MB")):
            values = [r[key] for r in recorded if r["subject"] == subject]
            summary[f"{subject} {label}"] = summarise(values)
    data = {"environment": _environment(source), "catalog": size.tag, "threads": THREADS}
    data.update(ratios=summary, runs=rows)
    return _write("store", data)


async def _ten_tables(size: CatalogSize, add: bool) -> None:
    rows = await _pg(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND NOT c.relispartition AND n.nspname ~ '^mi_bench_s'"
        " ORDER BY 1, 2 LIMIT 10",
        size.database,
    )
    statements = [
        f'ALTER TABLE "{r["nspname"]}"."{r["relname"]}" '
        + ("ADD COLUMN mi_bench_extra integer" if add else "DROP COLUMN mi_bench_extra")
        for r in rows
    ]
    await _pg("; ".join(statements), size.database)


async def scaling(sizes: list[CatalogSize]) -> Path:
    """Store write time of re-runs with 10 changed tables, per catalog size."""
    source = snapshot_source()
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="mi_bench_store_"))
    async with Sampler("postgres") as sampler:
        for size in sizes:
            if not await _exists(size):
                raise SystemExit(f"{size.database}: build it first (python -m benchmarks catalog)")
            url = f"sqlite+aiosqlite:///{tmp / (size.tag + '.db')}"
            steps = [("first", None), ("10 changed", True), ("10 changed", False)]
            steps.append(("unchanged", None))
            for step, add in steps:
                if add is not None:
                    await _ten_tables(size, add)
                app = new_app_name()
                base = metaingest_spec("postgres", size, 5432, THREADS, app, "unused")
                spec = _with_sink(base, url, kind="metaingest-store")
                started = time.perf_counter()
                result = await measure(spec, sampler, app)
                row = {"catalog": size.tag, "run": step, **result}
                row["process_s"] = round(time.perf_counter() - started, 3)
                rows.append(row)
                print(json.dumps({k: row[k] for k in _SHOWN if k in row}))
    # one file per day: a later call (a bigger catalog built meanwhile) adds its catalogs
    done = {row["catalog"] for row in rows}
    path = RESULTS / f"{dt.date.today().isoformat()}-store-scaling.json"
    earlier = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"runs": []}
    kept = [row for row in earlier["runs"] if row["catalog"] not in done]
    environments = [e for e in earlier.get("environments", []) if e]
    environments.append({"catalogs": sorted(done), **_environment(source)})
    return _write("store-scaling", {"environments": environments, "runs": kept + rows})


_SHOWN = ("catalog", "run", "wall", "sink_s", "store_write_s", "rows_written", "max_rss_mb")


def run_timed(config: dict[str, Any]) -> dict[str, Any]:
    """In the child: one library run into the catalog sink, timing the sink and its writes."""
    import anyio

    from metaingest.config import parse_config
    from metaingest.sinks import create_sink
    from metaingest.sinks.catalog import CatalogSink
    from metaingest.workflow import Workflow

    workflow_config = parse_config(config)
    sink = create_sink(workflow_config.sink, workflow_config.workflow)
    assert isinstance(sink, CatalogSink)
    timed = _Timed(sink)
    start = time.perf_counter()
    report = anyio.run(Workflow(workflow_config, sink=timed).run)
    wall = time.perf_counter() - start
    publisher = sink._publisher
    return {
        "wall": wall,
        "sink_s": round(timed.seconds, 4),
        "store_write_s": round(publisher.write_seconds, 4),
        "rows_written": publisher.rows_written,
        "counts": publisher.counts,
        "tables": report.tables,
        "views": report.views,
        "ok": report.ok,
    }


class _Timed:
    """The catalog sink, with the time spent in it summed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds = 0.0

    async def write(self, batch: Any) -> None:
        started = time.perf_counter()
        await self.inner.write(batch)
        self.seconds += time.perf_counter() - started

    async def set_scope(self, scope: Any) -> None:
        await self.inner.set_scope(scope)

    async def aclose(self, *, commit: bool = False) -> None:
        started = time.perf_counter()
        await self.inner.aclose(commit=commit)
        self.seconds += time.perf_counter() - started


def main_ratios(reps: int) -> None:
    """Entry point of ``python -m benchmarks store``."""
    print(asyncio.run(ratios(reps)))
