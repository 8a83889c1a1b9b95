"""A fleet on one machine: in-process vs Dask (two worker processes), 0 and 2 ms latency.

The PostgreSQL benchmark catalog (``python -m benchmarks catalog --engine postgres``, 40 x 50
x 12) is split into ``--sources`` sources of consecutive schemas (distinct service names),
each with ``--threads`` threads, and run as one fleet into a JSONL sink, alternately with the
local executor and with a ``LocalCluster(n_workers=2, processes=True)`` (started once, not
timed; one unrecorded warm-up run of each first). Latency 2 ms goes through
``benchmarks.latency_proxy`` in its own process, for both executors. Also measured, on the
same cluster: the scheduler's round trip for one empty task (submitted and awaited one at a
time) and its cost per task when 200 are in flight, in milliseconds.

    python -m benchmarks.fleet --reps 3      # results/<date>-fleet.json and a table
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .catalog import PG, CatalogSize

RESULTS = Path(__file__).parent / "results"


def fleet_config(
    size: CatalogSize, sources: int, threads: int, port: int, out: Path, dask: str | None
) -> Any:
    from metaingest.config import parse_config

    per = size.schemas // sources
    fleet = []
    for i in range(sources):
        names = "|".join(size.schema_name("postgres", s) for s in range(i * per, (i + 1) * per))
        fleet.append(
            {
                "type": "postgres",
                "host": PG["host"],
                "port": port,
                "username": PG["user"],
                "database": size.database,
                "service_name": f"pg{i}",
                "threads": threads,
                "application_name": f"mi_bench_fleet{i}",
                "schema_filter": {"includes": [f"^({names})$"]},
            }
        )
    data: dict[str, Any] = {"sources": fleet, "sink": {"type": "jsonl", "path": str(out)}}
    if dask is not None:
        data["executor"] = {"type": "dask", "address": dask}
    return parse_config(data, env={})


async def timed_run(config: Any) -> dict[str, Any]:
    from metaingest.fleet import Fleet

    start = time.perf_counter()
    report = await Fleet(config).run()
    wall = time.perf_counter() - start
    assert report.ok, report.issues[:3]
    longest = max(unit.end - unit.start for unit in report.units)
    return {"wall": wall, "units": report.units_total, "tables": report.tables + report.views,
            "longest_unit": longest}  # fmt: skip


async def _empty() -> None:
    return None


async def scheduler_overhead(address: str, count: int = 200) -> dict[str, float]:
    import distributed

    async with distributed.Client(address, asynchronous=True) as client:
        for _ in range(10):  # warm-up
            await client.submit(_empty, pure=False)
        start = time.perf_counter()
        for _ in range(count):
            await client.submit(_empty, pure=False)
        sequential = (time.perf_counter() - start) / count
        start = time.perf_counter()
        await client.gather([client.submit(_empty, pure=False) for _ in range(count)])
        batched = (time.perf_counter() - start) / count
    return {"round_trip_ms": 1000 * sequential, "per_task_in_flight_ms": 1000 * batched}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fleet")
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args(argv)
    import distributed

    size = CatalogSize()
    out = Path(tempfile.mkdtemp(prefix="mi-fleet-")) / "out.jsonl"
    proxy = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.latency_proxy", "--listen-port", "15499",
         "--target-port", str(PG["port"]), "--delay-ms", "2"],
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    try:
        time.sleep(1.0)
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None
        ) as cluster:
            address = cluster.scheduler_address
            overhead = asyncio.run(scheduler_overhead(address))
            for executor in ("local", "dask"):  # warm-up: imports on the workers
                dask = address if executor == "dask" else None
                config = fleet_config(size, args.sources, args.threads, PG["port"], out, dask)
                asyncio.run(timed_run(config))
            for rep in range(args.reps):
                for latency, port in ((0, PG["port"]), (2, 15499)):
                    for executor in ("local", "dask"):
                        dask = address if executor == "dask" else None
                        config = fleet_config(size, args.sources, args.threads, port, out, dask)
                        result = asyncio.run(timed_run(config))
                        result.update(executor=executor, latency_ms=latency, rep=rep,
                                      load1=os.getloadavg()[0])  # fmt: skip
                        rows.append(result)
                        print(json.dumps(result), flush=True)
    finally:
        proxy.terminate()
        proxy.wait()
    summary = summarise(rows)
    doc = {
        "catalog": size.tag,
        "sources": args.sources,
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "scheduler": overhead,
        "runs": rows,
        "summary": summary,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{datetime.now(UTC).date()}-fleet.json"
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(table(doc))
    print(f"wrote {path}")


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per latency: median wall of each executor, and the per-repetition dask/local ratio."""
    out: dict[str, Any] = {}
    for latency in sorted({r["latency_ms"] for r in rows}):
        walls = {
            ex: [r["wall"] for r in rows if r["latency_ms"] == latency and r["executor"] == ex]
            for ex in ("local", "dask")
        }
        ratios = [d / local for d, local in zip(walls["dask"], walls["local"], strict=True)]
        out[str(latency)] = {
            "local_wall_median": statistics.median(walls["local"]),
            "dask_wall_median": statistics.median(walls["dask"]),
            "ratio_median": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    return out


def table(doc: dict[str, Any]) -> str:
    """The markdown table for benchmarks/README.md."""
    lines = [
        "| latency ms | local wall s (median) | dask wall s (median) "
        "| dask / local: median (min-max) |",
        "|---:|---:|---:|---|",
    ]
    for latency, s in doc["summary"].items():
        lines.append(
            f"| {latency} | {s['local_wall_median']:.2f} | {s['dask_wall_median']:.2f} | "
            f"{s['ratio_median']:.2f} ({s['ratio_min']:.2f}-{s['ratio_max']:.2f}) |"
        )
    sched = doc["scheduler"]
    lines.append("")
    lines.append(
        f"Scheduler: {sched['round_trip_ms']:.1f} ms per empty task submitted and awaited one "
        f"at a time; {sched['per_task_in_flight_ms']:.2f} ms per task with 200 in flight."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
