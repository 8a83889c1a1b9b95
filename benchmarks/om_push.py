"""Push the 40x50x12 PostgreSQL catalog to the stand-in OpenMetadata API and measure it.

For each latency (the stand-in sleeps that long before answering each request: a round trip
of that length) and repetition: a fresh stand-in process (``python -m tests.omserver``), then
two runs of the command line (``benchmarks.child``, kind ``metaingest``) with the
metadata-rest sink — the first creates every entity, the second finds them unchanged — and,
as the yardstick of the same repetition, one run into the JSONL sink. Recorded per run: wall,
CPU and peak RSS of the client process, and the stand-in's request counts (by method and
route) from which requests per table and per entity follow. Results go to
``benchmarks/results/<date>-openmetadata-push.json``; the summary is printed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .catalog import CatalogSize, build_postgres
from .measure import PG

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT / "src"), str(ROOT)) if p)
    return env


def _catalog_exists(size: CatalogSize) -> bool:
    async def check() -> bool:
        import asyncpg

        conn = await asyncpg.connect(database="postgres", timeout=10, **PG)
        try:
            found = await conn.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", size.database
            )
            return bool(found)
        finally:
            await conn.close()

    return asyncio.run(check())


def _source(size: CatalogSize, threads: int) -> dict[str, Any]:
    return {
        "type": "postgres",
        "host": "127.0.0.1",
        "port": PG["port"],
        "username": PG["user"],
        "database": size.database,
        "threads": threads,
        "service_name": "bench",
        "schema_filter": {"includes": [size.schema_regex("postgres")]},
    }


def _child(config: dict[str, Any]) -> dict[str, Any]:
    spec = json.dumps({"kind": "metaingest", "config": config})
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", spec],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"child failed: {done.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


class StandIn:
    """The stand-in in its own process (its CPU is not the client's)."""

    def __init__(self, latency_ms: float) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.omserver",
                "--token",
                TOKEN,
                "--latency-ms",
                str(latency_ms),
            ],
            cwd=ROOT,
            env=_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()

    def cpu(self) -> float:
        """CPU seconds the stand-in used so far (user + system, from /proc)."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> dict[str, int]:
        """Stop it; return its request counts by 'METHOD route'."""
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        counts: dict[str, int] = json.loads(out.strip().splitlines()[-1])
        return counts


def _delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0)}


def run(
    size: CatalogSize, latencies: list[float], reps: int, threads: int, concurrency: int
) -> dict[str, Any]:
    """Every run of the benchmark; returns the results document."""
    if not _catalog_exists(size):
        asyncio.run(build_postgres(size))
    started, load_at_start = time.strftime("%Y-%m-%dT%H:%M:%S"), os.getloadavg()[0]
    runs: list[dict[str, Any]] = []
    for rep in range(reps):
        for latency in latencies:
            with tempfile.TemporaryDirectory(prefix="mi_bench_om_") as tmp:
                jsonl = _child(
                    {
                        "source": _source(size, threads),
                        "sink": {"type": "jsonl", "path": f"{tmp}/out.jsonl"},
                    }
                )
                runs.append(
                    {
                        "rep": rep,
                        "latency_ms": latency,
                        "sink": "jsonl",
                        "load1": os.getloadavg()[0],
                    }
                    | jsonl
                )
            server = StandIn(latency)
            sink = {
                "type": "metadata-rest",
                "host_port": server.url,
                "jwt_token": TOKEN,
                "concurrency": concurrency,
            }
            config = {"source": _source(size, threads), "sink": sink}
            first = _child(config)
            second = _child(config)
            # the stand-in counts per process: the two runs are told apart by a third server
            counts = server.stop()
            server = StandIn(latency)
            config["sink"]["host_port"] = server.url
            _child(config)
            server_cpu = server.cpu()
            only_first = server.stop()
            first["stand_in_cpu"] = server_cpu
            for name, result, requests in (
                ("metadata-rest (create)", first, only_first),
                ("metadata-rest (unchanged re-run)", second, _delta(counts, only_first)),
            ):
                runs.append(
                    {
                        "rep": rep,
                        "latency_ms": latency,
                        "sink": name,
                        "requests": requests,
                        "load1": os.getloadavg()[0],
                        **result,
                    }
                )
            print(f"rep {rep} latency {latency} ms: done", file=sys.stderr, flush=True)
    return {
        "catalog": size.tag,
        "threads": threads,
        "concurrency": concurrency,
        "date": started,
        "load1_at_start": load_at_start,
        "load1_at_end": os.getloadavg()[0],
        "cpus": os.cpu_count(),
        "runs": runs,
    }


def summary(doc: dict[str, Any]) -> str:
    """The results as a Markdown table (medians over repetitions; ranges for wall)."""
    lines = [
        "| sink | latency ms | wall s median (min-max) | wall / jsonl | CPU s | stand-in CPU s |"
        " peak RSS MB |"
        " requests / table | requests / entity | PUT | GET | DELETE |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    runs = doc["runs"]
    for latency in sorted({r["latency_ms"] for r in runs}):
        base = {
            r["rep"]: r["wall"] for r in runs if r["latency_ms"] == latency and r["sink"] == "jsonl"
        }
        for sink in ("jsonl", "metadata-rest (create)", "metadata-rest (unchanged re-run)"):
            label = "jsonl (no server; yardstick of the same rep)" if sink == "jsonl" else sink
            rows = [r for r in runs if r["latency_ms"] == latency and r["sink"] == sink]
            if not rows:
                continue
            walls = [r["wall"] for r in rows]
            ratio = statistics.median(r["wall"] / base[r["rep"]] for r in rows)
            cells = [
                label,
                f"{latency:g}",
                f"{statistics.median(walls):.2f} ({min(walls):.2f}-{max(walls):.2f})",
                f"{ratio:.2f}",
                f"{statistics.median(r['cpu'] for r in rows):.2f}",
                f"{statistics.median(r['stand_in_cpu'] for r in rows):.2f}"
                if "stand_in_cpu" in rows[0]
                else "—",
                f"{statistics.median(r['max_rss_mb'] for r in rows):.1f}",
            ]
            if "requests" in rows[0]:
                req = rows[0]["requests"]
                tables = rows[0]["tables"] + rows[0]["views"]
                entities = tables + rows[0]["schemas"] + 2  # + the database and the service
                total = sum(req.values())
                by = {
                    m: sum(v for k, v in req.items() if k.startswith(m + " "))
                    for m in ("PUT", "GET", "DELETE")
                }
                cells += [
                    f"{total / tables:.3f}",
                    f"{total / entities:.3f}",
                    *(str(by[m]) for m in by),
                ]
            else:
                cells += ["—"] * 5
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--latencies", default="0,2")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--summary", metavar="JSON", help="only print the summary of a results file"
    )
    args = parser.parse_args()
    if args.summary:
        print(summary(json.loads(Path(args.summary).read_text(encoding="utf-8"))))
        return
    size = CatalogSize()
    doc = run(
        size,
        [float(x) for x in args.latencies.split(",")],
        args.reps,
        args.threads,
        args.concurrency,
    )
    out = ROOT / "benchmarks" / "results" / f"{time.strftime('%Y-%m-%d')}-openmetadata-push.json"
    out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(summary(doc))
    print(f"\nwrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
