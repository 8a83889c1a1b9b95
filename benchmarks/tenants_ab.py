"""This tree's ``src`` against a baseline's, interleaved, on a tenant shape or the standard one.

    git archive $(git merge-base HEAD main) src/metaingest | tar -x -C /tmp/mi_base
    python -m benchmarks tenants --engine postgres --shape schemas --catalog-only \\
        --baseline /tmp/mi_base/src --reps 3
    python -m benchmarks tenants --engine postgres --shape std --baseline /tmp/mi_base/src
    python -m benchmarks.tenants_ab std /tmp/mi_base/src --threads 4 --pairs 10   # new/old only

Each repetition runs the reference, then threads 4 and 8 of the new and the old code in
alternation (order flipped every repetition), each in a fresh process, directly and through
the latency proxy; every ratio is a run's wall over the same repetition's reference wall.
``std`` is the standard benchmark catalog ``mi_bench_40x50x12`` (built by ``python -m
benchmarks catalog``), run with the sweep's own configuration.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

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
from .tenants import OPTIONS, PORTS, SHAPES, _spec

__all__ = ["ab"]

STD = CatalogSize(40, 50, 12)
THREADS = (4, 8)


def _spec_for(engine: str, shape: str, subject: str, threads: int, port: int, app: str,
              out: str) -> dict[str, Any]:  # fmt: skip
    if shape != "std":
        return _spec(engine, SHAPES[shape], subject, threads, port, app, out)
    if subject == "reference":
        return reference_spec(engine, STD, port, app, out)
    return metaingest_spec(engine, STD, port, threads, app, out)


async def _one(
    engine: str, shape: str, subject: str, threads: int, port: int, sampler: Sampler,
    pythonpath: str | None,
) -> dict[str, Any]:  # fmt: skip
    app = new_app_name()
    workdir = Path(tempfile.mkdtemp(prefix="mi_bench_run_"))
    try:
        spec = _spec_for(engine, shape, subject, threads, port, app, str(workdir / "out.jsonl"))
        return await measure(spec, sampler, app, pythonpath=pythonpath)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


async def ab(
    engine: str, shape: str, reps: int, latencies: list[float], baseline: Path
) -> dict[str, Any]:
    """Reference, then new and old code at threads 4 and 8, ``reps`` interleaved rounds."""
    source = snapshot_source()
    codes = {"new": None, "old": str(baseline)}
    runs: list[dict[str, Any]] = []
    async with Sampler(engine) as sampler, LatencyProxy(PORTS[engine], max(latencies)) as proxy:
        for path in codes.values():  # warm-up, unrecorded
            await _one(engine, shape, "metaingest", 4, PORTS[engine], sampler, path)
        await _one(engine, shape, "reference", 1, PORTS[engine], sampler, None)
        for rep in range(reps):
            order = list(codes.items()) if rep % 2 == 0 else list(reversed(codes.items()))
            for latency in latencies:
                port = PORTS[engine] if latency == 0 else proxy.port
                plan = [("reference", 1, "-", None)] + [
                    ("metaingest", t, code, path) for t in THREADS for code, path in order
                ]
                for subject, threads, code, path in plan:
                    proxy.reset()
                    load = os.getloadavg()[0]
                    result = await _one(engine, shape, subject, threads, port, sampler, path)
                    result.update(subject=subject, code=code, threads=threads,
                                  latency_ms=latency, rep=rep, load1=load)  # fmt: skip
                    runs.append(result)
                    print(
                        f"{engine} {shape} rep {rep} {subject:10} {code:3} t={threads}"
                        f" lat={latency}: wall {result['wall']:.3f} s"
                        f" conns {result['peak_server_connections']} load {load:.1f}",
                        flush=True,
                    )
    data = {"engine": engine, "shape": shape, "source": source, "baseline": str(baseline),
            "options": OPTIONS, "runs": runs, "ratios": _ratios(runs)}  # fmt: skip
    stamp = time.strftime("%Y-%m-%d")
    tag = f"{engine}-{shape}" + ("-catalog-only" if OPTIONS else "")
    tag += "-0ms" if max(latencies) == 0 else ""
    path = Path(__file__).parent / "results" / f"{stamp}-tenants-ab-{tag}.json"
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(json.dumps(data["ratios"], indent=1))
    print(f"wrote {path}")
    return data


def _ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    reference = {
        (r["rep"], r["latency_ms"]): r["wall"] for r in runs if r["subject"] == "reference"
    }
    out: dict[str, list[float]] = {}
    new_over_old: dict[str, list[float]] = {}
    walls = {(r["rep"], r["latency_ms"], r["threads"], r["code"]): r["wall"] for r in runs}
    for run in runs:
        if run["subject"] == "reference":
            continue
        key = f"{run['code']} t{run['threads']} / reference, {run['latency_ms']:g} ms"
        out.setdefault(key, []).append(run["wall"] / reference[(run["rep"], run["latency_ms"])])
        if run["code"] == "new":
            old = walls[(run["rep"], run["latency_ms"], run["threads"], "old")]
            ab_key = f"new / old t{run['threads']}, {run['latency_ms']:g} ms"
            new_over_old.setdefault(ab_key, []).append(run["wall"] / old)
    summary: dict[str, Any] = {k: summarise(v) for k, v in {**out, **new_over_old}.items()}
    summary["peak server connections by threads"] = {
        str(t): max(r["peak_server_connections"] for r in runs if r["threads"] == t)
        for t in sorted({r["threads"] for r in runs})
    }
    summary["load1"] = summarise([r["load1"] for r in runs])
    return summary


async def pairs(shape: str, threads: int, count: int, baseline: Path) -> dict[str, Any]:
    """New and old code only, alternating, ``count`` pairs at ``threads`` without latency: a
    tighter A/B than ``ab`` when the reference's own wall is the noise."""
    snapshot_source()
    out: list[dict[str, Any]] = []
    async with Sampler("postgres") as sampler:
        for path in (str(baseline), None):  # warm-up, unrecorded
            await _one("postgres", shape, "metaingest", threads, PORTS["postgres"], sampler, path)
        for pair in range(count):
            order = [("new", None), ("old", str(baseline))]
            walls: dict[str, float] = {}
            for code, path in order if pair % 2 == 0 else order[::-1]:
                run = await _one("postgres", shape, "metaingest", threads, PORTS["postgres"],
                                 sampler, path)  # fmt: skip
                walls[code] = run["wall"]
            out.append({"pair": pair, "new_wall": walls["new"], "old_wall": walls["old"],
                        "new_over_old": walls["new"] / walls["old"],
                        "load1": os.getloadavg()[0]})  # fmt: skip
            print(out[-1], flush=True)
    data = {"shape": shape, "threads": threads, "baseline": str(baseline), "pairs": out,
            "new_over_old": summarise([p["new_over_old"] for p in out])}  # fmt: skip
    stamp = time.strftime("%Y-%m-%d")
    path = Path(__file__).parent / "results" / f"{stamp}-tenants-ab-postgres-{shape}-pairs.json"
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(data["new_over_old"]), f"wrote {path}")
    return data


if __name__ == "__main__":
    import argparse
    import asyncio

    parser = argparse.ArgumentParser(prog="python -m benchmarks.tenants_ab")
    parser.add_argument("shape", choices=("std", "schemas", "dbs"))
    parser.add_argument("baseline", help="the baseline's src directory")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=10)
    args = parser.parse_args()
    asyncio.run(pairs(args.shape, args.threads, args.pairs, Path(args.baseline)))
