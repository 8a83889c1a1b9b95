"""PostgreSQL's group budget (``connectors/postgres.py``, ``GROUP_BUDGET``) against itself.

    python -m benchmarks.tenants_budget 500,1000,4000 --reps 2

Copies this tree's ``src/metaingest`` once per budget with that budget set, then runs the
1000-schema shape (catalog only) at threads 4 and 8, directly and through the 2 ms proxy,
each run divided by the same repetition's reference run; budgets interleaved (order flipped
every repetition), each in a fresh process. Writes
``results/<date>-tenants-budgets-<budgets>.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from .latency_proxy import LatencyProxy
from .measure import SRC, Sampler
from .tenants import OPTIONS, PORTS
from .tenants_ab import _one

__all__ = ["main"]


def _copies(budgets: list[int]) -> dict[int, str]:
    root = Path(tempfile.mkdtemp(prefix="mi_bench_budgets_"))
    out = {}
    for budget in budgets:
        tree = root / f"b{budget}" / "metaingest"
        shutil.copytree(SRC, tree, ignore=shutil.ignore_patterns("__pycache__"))
        module = tree / "connectors" / "postgres.py"
        text, n = re.subn(r"^GROUP_BUDGET = \d+$", f"GROUP_BUDGET = {budget}",
                          module.read_text(encoding="utf-8"), flags=re.M)  # fmt: skip
        assert n == 1, "GROUP_BUDGET not found"
        module.write_text(text, encoding="utf-8")
        out[budget] = str(tree.parent)
    return out


async def sweep(budgets: list[int], reps: int, latencies: list[float]) -> list[dict[str, Any]]:
    """Every budget at threads 4 and 8, per latency, against the reference."""
    OPTIONS.update(include_lineage=False, include_stored_procedures=False)
    paths = _copies(budgets)
    runs: list[dict[str, Any]] = []
    async with Sampler("postgres") as sampler, LatencyProxy(PORTS["postgres"], 2.0) as proxy:
        await _one("postgres", "schemas", "reference", 1, PORTS["postgres"], sampler, None)
        for rep in range(reps):
            for latency in latencies:
                port = PORTS["postgres"] if latency == 0 else proxy.port
                proxy.reset()
                ref = await _one("postgres", "schemas", "reference", 1, port, sampler, None)
                for threads in (4, 8):
                    for budget in budgets if rep % 2 == 0 else budgets[::-1]:
                        proxy.reset()
                        load = os.getloadavg()[0]
                        run = await _one("postgres", "schemas", "metaingest", threads, port,
                                         sampler, paths[budget])  # fmt: skip
                        runs.append({"budget": budget, "threads": threads, "latency_ms": latency,
                                     "rep": rep, "wall": run["wall"], "reference": ref["wall"],
                                     "ratio": run["wall"] / ref["wall"], "load1": load,
                                     "conns": run["peak_server_connections"]})  # fmt: skip
                        print(runs[-1], flush=True)
    return runs


def main() -> None:
    """``python -m benchmarks.tenants_budget BUDGETS``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tenants_budget")
    parser.add_argument("budgets", help="comma-separated, e.g. 500,1000,4000")
    parser.add_argument("--reps", type=int, default=2)
    args = parser.parse_args()
    runs = asyncio.run(sweep([int(b) for b in args.budgets.split(",")], args.reps, [0.0, 2.0]))
    summary: dict[str, list[float]] = {}
    for run in runs:
        key = f"budget {run['budget']} t{run['threads']} {run['latency_ms']:g} ms"
        summary.setdefault(key, []).append(run["ratio"])
    medians = {key: round(statistics.median(values), 3) for key, values in summary.items()}
    print(json.dumps(medians, indent=1))
    name = f"{time.strftime('%Y-%m-%d')}-tenants-budgets-{args.budgets.replace(',', '-')}.json"
    path = Path(__file__).parent / "results" / name
    path.write_text(json.dumps({"runs": runs, "medians": medians}, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
