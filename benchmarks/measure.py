"""Run one measured subprocess while sampling the server for its connections.

The parent (this module) starts ``benchmarks.child`` with a spec, and while it runs it asks
the server every few milliseconds how many connections the run holds: PostgreSQL by the run's
unique ``application_name`` in ``pg_stat_activity``; MariaDB by the benchmark user in
``information_schema.PROCESSLIST`` (runs are sequential, so the user identifies the run;
MariaDB's PROCESSLIST does not show connection attributes).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from .catalog import BENCH_USER, MARIA, PG, CatalogSize

__all__ = [
    "Sampler",
    "measure",
    "metaingest_spec",
    "reference_spec",
    "snapshot_source",
    "summarise",
]

SAMPLE_EVERY = 0.005
RUN_TIMEOUT = 900.0


class Sampler:
    """Counts a run's server connections on a connection of its own."""

    def __init__(self, engine: str) -> None:
        self.engine = engine
        self.peak_workers = 0
        self._conn: Any = None

    async def __aenter__(self) -> Sampler:
        if self.engine == "postgres":
            import asyncpg

            self._conn = await asyncpg.connect(
                database="postgres", timeout=10, **PG,
                server_settings={"application_name": "mi_bench_sampler"},
            )  # fmt: skip
        else:
            import aiomysql

            self._conn = await aiomysql.connect(
                host=MARIA["host"], port=MARIA["port"], user=MARIA["user"], password="",
                autocommit=True, connect_timeout=10,
            )  # fmt: skip
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.engine == "postgres":
            await self._conn.close()
        else:
            self._conn.close()

    async def count(self, app: str) -> int:
        """Connections the run named ``app`` holds right now."""
        if self.engine == "postgres":
            # Parallel query workers inherit application_name: they are not connections.
            row = await self._conn.fetchrow(
                "SELECT count(*) FILTER (WHERE backend_type = 'client backend') AS conns,"
                " count(*) FILTER (WHERE backend_type = 'parallel worker') AS workers"
                " FROM pg_stat_activity WHERE application_name = $1",
                app,
            )
            self.peak_workers = max(self.peak_workers, int(row["workers"]))
            return int(row["conns"])
        async with self._conn.cursor() as cur:
            await cur.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (BENCH_USER,)
            )
            (n,) = await cur.fetchone()
        return int(n)


SRC = Path(__file__).resolve().parent.parent / "src" / "metaingest"
_PYTHONPATH: str | None = None


def snapshot_source() -> dict[str, Any]:
    """Copy src/metaingest aside so that every run of a sweep measures the same code.

    The tree is shared with engineers editing it; a sweep must not pick up a half-saved file
    halfway through. Children get the copy first on PYTHONPATH. Returns its content hash.
    """
    global _PYTHONPATH
    root = Path(tempfile.mkdtemp(prefix="mi_bench_src_"))
    shutil.copytree(SRC, root / "metaingest", ignore=shutil.ignore_patterns("__pycache__"))
    digest = hashlib.sha256()
    files = sorted(p for p in (root / "metaingest").rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    _PYTHONPATH = str(root)
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # the copy lives for this process
    return {"path": str(root), "sha256": digest.hexdigest()[:16], "files": len(files)}


def _child_env(pythonpath: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    first = pythonpath or _PYTHONPATH
    if first is not None:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (first, env.get("PYTHONPATH")) if p)
    return env


def new_app_name() -> str:
    """A unique name for one run's connections."""
    return "mi_bench_" + uuid.uuid4().hex[:12]


def metaingest_spec(
    engine: str,
    size: CatalogSize,
    port: int,
    threads: int,
    app: str,
    out: str,
    kind: str = "metaingest",
) -> dict[str, Any]:
    """A child spec running metaingest (``kind``: the CLI, or ``metaingest-api``) on the
    catalog through ``port``."""
    source: dict[str, Any] = {
        "type": "postgres" if engine == "postgres" else "mariadb",
        "host": "127.0.0.1",
        "port": port,
        "threads": threads,
        "service_name": "bench",
        "schema_filter": {"includes": [size.schema_regex(engine)]},
        # what OpenMetadata's pipeline reads beyond tables (routines are on by default)
        "include_owners": True,
        "include_stored_procedures": True,
    }
    if engine == "postgres":
        source.update(username=PG["user"], database=size.database, application_name=app)
    else:
        source.update(username=BENCH_USER, program_name=app)
    return {
        "kind": kind,
        "config": {"source": source, "sink": {"type": "jsonl", "path": out}},
    }


def reference_spec(engine: str, size: CatalogSize, port: int, app: str, out: str) -> dict[str, Any]:
    """A child spec running the reference reader on the catalog through ``port``."""
    args = {
        "engine": engine,
        "host": "127.0.0.1",
        "port": port,
        "user": PG["user"] if engine == "postgres" else BENCH_USER,
        "database": size.database,
        "schema_regex": size.schema_regex(engine),
        "app_name": app,
        "out": out,
    }
    return {"kind": "reference", "args": args}


async def measure(
    spec: dict[str, Any],
    sampler: Sampler,
    app: str,
    budget_s: float = RUN_TIMEOUT,
    pythonpath: str | None = None,
) -> dict[str, Any]:
    """Run ``spec`` in a fresh interpreter; add the peak server connections seen.

    ``pythonpath``: a directory holding another ``metaingest`` (a baseline's copy) to run
    instead of the snapshot of this tree.
    """
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "benchmarks.child", json.dumps(spec),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_child_env(pythonpath),
    )  # fmt: skip
    communicate = asyncio.ensure_future(proc.communicate())
    peak, samples = 0, 0
    sampler.peak_workers = 0
    try:
        deadline = time.monotonic() + budget_s
        while not communicate.done():
            if time.monotonic() > deadline:
                proc.kill()
                raise TimeoutError(f"run exceeded {budget_s} s: {spec['kind']}")
            peak = max(peak, await sampler.count(app))
            samples += 1
            await asyncio.wait({communicate}, timeout=SAMPLE_EVERY)
        out, err = await communicate
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {err.decode()[-2000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result.update(
        peak_server_connections=peak,
        peak_parallel_workers=sampler.peak_workers,
        samples=samples,
        process_wall=time.perf_counter() - started,
    )
    return result


def summarise(values: list[float]) -> dict[str, float]:
    """Median, min, max and relative spread ((max - min) / median) of some runs."""
    median = statistics.median(values)
    lo, hi = min(values), max(values)
    return {
        "median": round(median, 4),
        "min": round(lo, 4),
        "max": round(hi, 4),
        "spread": round((hi - lo) / median, 3) if median else 0.0,
    }
