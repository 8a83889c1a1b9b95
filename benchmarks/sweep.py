"""The sweep, the round-trip count and the scaling runs; each writes ``results/*.json``.

Every measurement is a fresh subprocess (``benchmarks.child``). Repetitions are interleaved
(rep 1 of every configuration, then rep 2, ...) so that a burst of load from other work on
the machine spreads over configurations instead of hitting one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from . import catalog
from .catalog import CatalogSize
from .latency_proxy import LatencyProxy
from .measure import (
    Sampler,
    measure,
    metaingest_spec,
    new_app_name,
    reference_spec,
    snapshot_source,
    summarise,
)

__all__ = ["roundtrips", "scaling", "sweep"]

RESULTS = Path(__file__).parent / "results"
PORTS = {"postgres": 5432, "mariadb": 3306}


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False).stdout


def _environment(source: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD").strip(),
        "src_snapshot": source,
        "src_uncommitted": _git("status", "--short", "--", "src").splitlines(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
    }


def _write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{dt.date.today().isoformat()}-{name}.json"
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


async def prepare(engine: str, size: CatalogSize, sampler: Sampler) -> dict[str, Any]:
    """Snapshot src/ and check it with a warm-up run; retry (bounded) while others edit it."""
    for attempt in range(10):
        source = snapshot_source()
        try:
            for subject, threads in (("metaingest", 2), ("reference", 1)):
                warm = await _one(engine, size, subject, threads, PORTS[engine], sampler)
                if warm.get("errors") or not warm.get("ok"):
                    raise RuntimeError(f"warm-up had errors: {warm.get('issues')}")
            return source
        except RuntimeError as exc:
            print(f"snapshot {source['sha256']} unusable ({str(exc)[-300:]}); retry {attempt}")
            await asyncio.sleep(30)
    raise RuntimeError("src/ did not yield a working snapshot in 10 attempts")


async def _idle(sampler: Sampler, app: str) -> None:
    """Wait (bounded) until the previous run's connections are gone from the server."""
    for _ in range(200):
        if await sampler.count(app) == 0:
            return
        await asyncio.sleep(0.01)


async def _one(
    engine: str,
    size: CatalogSize,
    subject: str,
    threads: int,
    port: int,
    sampler: Sampler,
    budget_s: float = 900.0,
) -> dict[str, Any]:
    app = new_app_name()
    workdir = Path(tempfile.mkdtemp(prefix="mi_bench_run_"))
    out = str(workdir / "out.jsonl")
    try:
        if subject == "reference":
            spec = reference_spec(engine, size, port, app, out)
        else:
            spec = metaingest_spec(engine, size, port, threads, app, out, kind=subject)
        await _idle(sampler, app)
        result = await measure(spec, sampler, app, budget_s)
        output = Path(out)
        result["output_bytes"] = output.stat().st_size if output.exists() else None  # noqa: ASYNC240
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _configs(threads: list[int], latencies: list[float]) -> list[tuple[str, int, float]]:
    """``metaingest`` is the command line; ``metaingest-api`` (the library embedded, which
    keeps the process's default GC policy) is measured at threads 4 without latency."""
    out: list[tuple[str, int, float]] = []
    for latency in latencies:
        out.append(("reference", 1, latency))
        out.extend(("metaingest", t, latency) for t in threads)
        if latency == 0 and 4 in threads:
            out.append(("metaingest-api", 4, latency))
    return out


def _summary(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, int, float], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["subject"], run["threads"], run["latency_ms"]), []).append(run)
    rows = []
    for (subject, threads, latency), group in groups.items():
        tables = group[0].get("tables", 0) + group[0].get("views", 0)
        tables = tables or group[0].get("tables_and_views", 0)
        rows.append(
            {
                "subject": subject,
                "threads": threads,
                "latency_ms": latency,
                "runs": len(group),
                "wall_s": summarise([r["wall"] for r in group]),
                "cpu_s": summarise([r["cpu"] for r in group]),
                "max_rss_mb": summarise([r["max_rss_mb"] for r in group]),
                "peak_server_connections": max(r["peak_server_connections"] for r in group),
                "tables_and_views": tables,
                "tables_per_s": round(tables / summarise([r["wall"] for r in group])["median"], 1),
                "proxy_turns": group[0].get("proxy_turns"),
                "errors": sum(r.get("errors", 0) for r in group),
            }
        )
    return rows


async def sweep(
    engine: str, size: CatalogSize, reps: int, threads: list[int], latencies: list[float]
) -> Path:
    """Every configuration ``reps`` times; results/<date>-<engine>.json."""
    direct = PORTS[engine]
    runs: list[dict[str, Any]] = []
    delays = sorted({lat for lat in latencies if lat > 0})
    if len(delays) > 1:
        raise ValueError("one non-zero latency per sweep")
    async with Sampler(engine) as sampler, LatencyProxy(direct, delays[0] if delays else 0) as px:
        env = _environment(await prepare(engine, size, sampler))
        for rep in range(reps):
            for subject, t, latency in _configs(threads, latencies):
                port = direct if latency == 0 else px.port
                px.reset()
                load = os.getloadavg()[0]
                result = await _one(engine, size, subject, t, port, sampler)
                result.update(subject=subject, threads=t, latency_ms=latency, rep=rep, load1=load)
                if latency:
                    result.update(proxy_turns=px.stats.turns, proxy_peak=px.stats.peak_active)
                runs.append(result)
                print(
                    f"{engine} rep {rep} {subject:10} t={t} lat={latency}: "
                    f"wall {result['wall']:.3f} s cpu {result['cpu']:.3f} s "
                    f"rss {result['max_rss_mb']:.0f} MB conns {result['peak_server_connections']}"
                    f" load {load:.1f}",
                    flush=True,
                )
    env["loadavg_end"] = os.getloadavg()
    data = {
        "engine": engine,
        "catalog": size.tag,
        "environment": env,
        "summary": _summary(runs),
        "runs": runs,
    }
    return _write(engine, data)


async def roundtrips(engine: str, shapes: list[tuple[int, int]], columns: int = 12) -> Path:
    """Count protocol turns of one threads=1 run per catalog shape (schemas, tables)."""
    rows = []
    source = snapshot_source()
    async with Sampler(engine) as sampler, LatencyProxy(PORTS[engine], 0) as proxy:
        for schemas, tables in shapes:
            size = CatalogSize(schemas, tables, columns)
            build = await _build(engine, size)
            row: dict[str, Any] = {"schemas": schemas, "tables_per_schema": tables}
            for subject in ("metaingest", "reference"):
                proxy.reset()
                result = await _one(engine, size, subject, 1, proxy.port, sampler)
                row[subject] = {
                    "turns": proxy.stats.turns,
                    "connections": proxy.stats.connections,
                    "wall": result["wall"],
                    "errors": result.get("errors", 0),
                }
            row["build_s"] = round(build, 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
            await _drop(engine, size)
    return _write(
        f"{engine}-roundtrips",
        {"engine": engine, "environment": _environment(source), "rows": rows},
    )


async def scaling(
    sizes: list[tuple[CatalogSize, int]],
    threads: int,
    keep: bool,
    max_seconds: float,
    reuse: bool = False,
) -> Path:
    """PostgreSQL catalogs of growing size at one ``threads``: wall per table and peak RSS."""
    rows = []
    source = snapshot_source()
    async with Sampler("postgres") as sampler:
        for size, reps in sizes:
            build = None if reuse and await _exists(size) else await _build("postgres", size)
            runs = []
            for rep in range(reps):
                try:
                    result = await _one(
                        "postgres", size, "metaingest", threads, 5432, sampler, max_seconds
                    )
                except TimeoutError:
                    print(f"{size.tag}: did not finish within {max_seconds} s", flush=True)
                    rows.append({"catalog": size.tag, "unfinished_after_s": max_seconds})
                    break
                result["rep"] = rep
                runs.append(result)
            if not runs:
                continue
            walls = summarise([r["wall"] for r in runs])
            tables = runs[0]["tables"] + runs[0]["views"]
            row = {
                "catalog": size.tag,
                "tables_and_views": tables,
                "threads": threads,
                "build_s": None if build is None else round(build, 1),
                "wall_s": walls,
                "wall_per_table_ms": round(1000 * walls["median"] / tables, 4),
                "max_rss_mb": summarise([r["max_rss_mb"] for r in runs]),
                "cpu_s": summarise([r["cpu"] for r in runs]),
                "peak_server_connections": max(r["peak_server_connections"] for r in runs),
                "peak_parallel_workers": max(r["peak_parallel_workers"] for r in runs),
                "runs": runs,
            }
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "runs"}), flush=True)
            if not keep:
                await _drop("postgres", size)
    return _write("postgres-scaling", {"environment": _environment(source), "rows": rows})


async def _build(engine: str, size: CatalogSize) -> float:
    started = time.perf_counter()
    if engine == "postgres":
        await catalog.build_postgres(size)
    else:
        await asyncio.to_thread(catalog.build_mariadb, size)
    return time.perf_counter() - started


async def _exists(size: CatalogSize) -> bool:
    import asyncpg

    conn = await asyncpg.connect(database="postgres", timeout=10, **catalog.PG)
    try:
        found = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", size.database)
    finally:
        await conn.close()
    return found is not None


async def _drop(engine: str, size: CatalogSize) -> None:
    if engine == "postgres":
        await catalog.drop_postgres(size)
    else:
        await asyncio.to_thread(catalog.drop_mariadb, size)
