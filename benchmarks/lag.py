"""The host loop's lag during a run (``lag``) and the cost of keeping it low (``lag-ab``).

``lag``: for each engine, catalog size and subject — ``ingest`` with each sink of ``SINKS``,
and ``stream`` (no sink) — runs ``benchmarks.lag_child`` in fresh processes beside a 5 ms
ticker and records the ticker's lag p50/p99/max. Repetitions are interleaved (rep 1 of every
configuration, then rep 2, ...). Writes ``results/<date>-lag.json``.

``idle`` runs the ticker alone: on a shared machine the scheduler delays a ready process
too, and that lag is no one's code.

``lag-ab``: the same child on the 40 x 50 x 12 catalog, this tree's ``src`` against a
baseline ``src`` (e.g. a ``git worktree`` of the branch point), alternating old and new in
fresh processes, several pairs; per pair the ratios new/old of wall and CPU, then their
median and range. Writes ``results/<date>-lag-ab.json``.

A sink is a parameter: adding one to the benchmark is one line in ``SINKS``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .catalog import BENCH_USER, PG, CatalogSize
from .measure import snapshot_source
from .sweep import PORTS, RESULTS, _environment

__all__ = ["SINKS", "ab", "idle", "lag", "render"]

ROOT = Path(__file__).resolve().parent.parent

# name -> the sink's config, given a scratch directory of the run. One line per sink.
SINKS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "jsonl": lambda d: {"type": "jsonl", "path": str(d / "out.jsonl")},
    "jsonl-openmetadata": lambda d: {
        "type": "jsonl",
        "path": str(d / "out.jsonl"),
        "format": "openmetadata",
    },
    "catalog-sqlite": lambda d: {"type": "catalog", "url": f"sqlite+aiosqlite:///{d}/store.db"},
    # a new store database per run (``_PREPARE``): every run is a first run
    "catalog-postgres": lambda d: {"type": "catalog", "url": STORE_URL},
    # the stand-in OpenMetadata API in its own process, started at first use
    "metadata-rest": lambda d: {
        "type": "metadata-rest",
        "host_port": _stand_in().url,
        "jwt_token": "bench-token",
    },
}
STORE_DB = "mi_bench_lag_store"
STORE_URL = f"postgresql+asyncpg://{PG['user']}@{PG['host']}:{PG['port']}/{STORE_DB}"
_STAND_IN: list[Any] = []


def _stand_in() -> Any:
    if not _STAND_IN:
        import atexit

        from .om_push import StandIn

        server = StandIn(0.0)
        atexit.register(server.stop)
        _STAND_IN.append(server)
    return _STAND_IN[0]


def _fresh_store() -> None:
    import asyncio

    import asyncpg

    async def recreate() -> None:
        conn = await asyncpg.connect(database="postgres", **PG)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{STORE_DB}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{STORE_DB}"')
        finally:
            await conn.close()

    asyncio.run(recreate())


_PREPARE: dict[str, Callable[[], None]] = {"ingest:catalog-postgres": _fresh_store}


def _source(engine: str, size: CatalogSize, threads: int) -> dict[str, Any]:
    source: dict[str, Any] = {
        "type": "postgres" if engine == "postgres" else "mariadb",
        "host": "127.0.0.1",
        "port": PORTS[engine],
        "threads": threads,
        "service_name": "bench",
        "schema_filter": {"includes": [size.schema_regex(engine)]},
    }
    if engine == "postgres":
        source.update(username=PG["user"], database=size.database)
    else:
        source.update(username=BENCH_USER)
    return source


def _spec(engine: str, size: CatalogSize, subject: str, threads: int, work: Path) -> dict[str, Any]:
    """``subject``: ``stream`` or ``ingest:<sink>``."""
    # the config needs a sink even for stream(), which does not use it
    sink = SINKS["jsonl" if subject == "stream" else subject.split(":", 1)[1]](work)
    config = {"source": _source(engine, size, threads), "sink": sink}
    return {"mode": subject.split(":", 1)[0], "config": config}


def _child(spec: dict[str, Any], src: Path, budget_s: float = 900.0) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join((str(src), str(ROOT))))
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.lag_child", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=budget_s,
        check=False,
    )
    if proc.returncode != 0:
        return {"ok": False, "stderr": proc.stderr[-2000:]}
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["load1"] = os.getloadavg()[0]
    return result


def _once(
    engine: str, size: CatalogSize, subject: str, threads: int, src: Path, gc: str = "default"
) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="mi_bench_lag_"))
    if subject in _PREPARE:
        _PREPARE[subject]()
    try:
        return _child({**_spec(engine, size, subject, threads, work), "gc": gc}, src)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _write(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{dt.date.today().isoformat()}-{name}.json"
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(f"wrote {path}")
    return path


def lag(
    engines: list[str],
    sizes: list[CatalogSize],
    reps: int,
    threads: int = 4,
    gc_policies: tuple[str, ...] = ("default", "deferred"),
    baseline: Path | None = None,
    subjects: list[str] | None = None,
    tag: str = "",
) -> dict[str, Any]:
    """The lag table: every engine x size x subject x GC policy, ``reps`` interleaved reps.

    ``subjects``: ``stream`` and ``ingest:<sink>`` (default: every sink of ``SINKS`` and
    ``stream``). With ``baseline`` (another tree's ``src``), that code is measured instead,
    into ``results/<date>-lag-baseline.json``; ``tag`` is appended to the file's name.
    """
    subjects = subjects or [f"ingest:{name}" for name in SINKS] + ["stream"]
    configs = [
        (e, s, sub, gc) for e in engines for s in sizes for sub in subjects for gc in gc_policies
    ]
    snapshot: dict[str, Any] | None = None
    if baseline is None:
        snapshot = snapshot_source()  # others edit src/ meanwhile: every run measures this copy
    src = baseline or Path(snapshot["path"])  # type: ignore[index]
    environment = _environment(snapshot)  # at the start: the load before the runs
    runs: dict[str, list[dict[str, Any]]] = {}
    for rep in range(reps):
        for engine, size, subject, gc in configs:
            key = f"{engine} {size.tag} {subject} {gc}"
            result = _once(engine, size, subject, threads, src, gc)
            runs.setdefault(key, []).append(result)
            print(f"rep {rep} {key}: {_brief(result)}", flush=True)
    data = {
        "environment": environment,
        "threads": threads,
        "period_ms": 5,
        "baseline": None if baseline is None else str(baseline),
        "runs": runs,
    }
    _write(("lag" if baseline is None else "lag-baseline") + (f"-{tag}" if tag else ""), data)
    return data


def idle(reps: int, seconds: float = 2.0) -> dict[str, Any]:
    """The ticker alone, ``reps`` times: the lag a loaded machine causes by itself."""
    config = {"source": _source("postgres", CatalogSize(1, 1, 4), 1), "sink": SINKS["jsonl"](ROOT)}
    runs = []
    for rep in range(reps):
        runs.append(_child({"mode": "idle", "seconds": seconds, "config": config}, ROOT / "src"))
        print(f"idle {rep}: {_brief(runs[-1])}", flush=True)
    data = {"environment": _environment(), "period_ms": 5, "runs": {"idle - idle default": runs}}
    _write("lag-idle", data)
    return data


def ab(baseline: Path, engines: list[str], size: CatalogSize, pairs: int) -> dict[str, Any]:
    """Old (``baseline``) vs new (this tree) ``src``, alternating, ``pairs`` pairs per engine."""
    snapshot = snapshot_source()
    src = Path(snapshot["path"])
    environment = _environment(snapshot)  # at the start: the load before the runs
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for engine in engines:
        for label, path in (("warm-up old", baseline), ("warm-up new", src)):
            print(label, _brief(_once(engine, size, "ingest:jsonl", 4, path)), flush=True)
    for pair in range(pairs):
        for engine in engines:
            order = [("old", baseline), ("new", src)]
            if pair % 2:
                order.reverse()  # neither side always runs first
            for label, path in order:
                result = _once(engine, size, "ingest:jsonl", 4, path)
                runs.setdefault(engine, {}).setdefault(label, []).append(result)
                print(f"pair {pair} {engine} {label}: {_brief(result)}", flush=True)
    data = {
        "environment": environment,
        "baseline": str(baseline),
        "catalog": size.tag,
        "threads": 4,
        "subject": "ingest:jsonl",
        "runs": runs,
    }
    _write("lag-ab", data)
    return data


def _brief(result: dict[str, Any]) -> str:
    if not result.get("ok"):
        return "FAILED " + str(result.get("stderr", result))[-500:]
    return (
        f"wall {result['wall']:.3f} cpu {result['cpu']:.3f} lag p50 {result['lag_p50_ms']:.1f}"
        f" p99 {result['lag_p99_ms']:.1f} max {result['lag_max_ms']:.1f} ms"
        f" busy {result['busy_max_ms']:.1f} (gc longest {result['gc_longest_ms']:.1f})"
        f" rss {result['max_rss_mb']:.0f}"
    )


def _range(values: list[float], fmt: str = "{:.1f}") -> str:
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return f"{fmt.format(statistics.median(values))} ({low}-{high})"


def _loads(env: dict[str, Any], runs: Any) -> str:
    """The 1-minute load average over the runs (each records its own), else the file's."""
    loads = [r["load1"] for results in runs for r in results if "load1" in r]
    if not loads:
        return f"{env['loadavg_start'][0]:.1f}"
    return f"{min(loads):.1f}-{max(loads):.1f} over the runs"


def _code(data: dict[str, Any]) -> str:
    if data.get("baseline"):
        return f"the baseline's src ({data['baseline']})"
    return f"commit {data['environment']['commit']}"


def render(lag_path: Path | None, ab_path: Path | None) -> str:
    """Markdown tables of the two result files."""
    lines: list[str] = []
    if lag_path is not None:
        data = json.loads(lag_path.read_text(encoding="utf-8"))
        env = data["environment"]
        lines += [
            f"**Loop lag**, threads {data.get('threads', '-')}, ticker {data['period_ms']} ms,"
            f" code: {_code(data)}, {env['date']},"
            f" load average {_loads(env, data['runs'].values())} on 2 CPUs"
            " (shared with other engineers' test runs)",
            "",
            "| engine | catalog | subject | GC | reps | wall s | lag p50 ms | lag p99 ms |"
            " lag max ms, median (min-max) | loop CPU max ms | longest GC ms | peak RSS MB |",
            "|---|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|",
        ]
        for key, results in data["runs"].items():
            engine, tag, subject, gc = key.split(" ")
            ok = [r for r in results if r.get("ok")]
            if not ok:
                lines.append(f"| {engine} | {tag} | {subject} | {gc} | 0 | failed | | | | | |")
                continue

            def col(name: str, rows: list[dict[str, Any]] = ok) -> list[float]:
                return [float(r[name]) for r in rows]

            lines.append(
                f"| {engine} | {tag} | {subject} | {gc} | {len(ok)}"
                f" | {statistics.median(col('wall')):.2f}"
                f" | {statistics.median(col('lag_p50_ms')):.1f}"
                f" | {statistics.median(col('lag_p99_ms')):.1f}"
                f" | {_range(col('lag_max_ms'))}"
                f" | {statistics.median(col('busy_max_ms')):.1f}"
                f" | {max(col('gc_longest_ms')):.1f}"
                f" | {max(col('max_rss_mb')):.0f} |"
            )
        lines.append("")
    if ab_path is not None:
        data = json.loads(ab_path.read_text(encoding="utf-8"))
        env = data["environment"]
        lines += [
            f"**Cost**, catalog {data['catalog']}, threads 4, `ingest` with the jsonl sink, new"
            f" (commit {env['commit']}) against old (the branch point) alternating in fresh"
            f" processes, {env['date']}, load average"
            f" {_loads(env, [r for sides in data['runs'].values() for r in sides.values()])}"
            " on 2 CPUs (shared)",
            "",
            "| engine | pairs | wall new/old, median (min-max) | CPU new/old |"
            " wall old -> new s | lag max old -> new ms |",
            "|---|---:|---|---|---|---|",
        ]
        for engine, sides in data["runs"].items():
            pairs = [
                (o, n)
                for o, n in zip(sides["old"], sides["new"], strict=True)
                if o["ok"] and n["ok"]
            ]
            wall = [n["wall"] / o["wall"] for o, n in pairs]
            cpu = [n["cpu"] / o["cpu"] for o, n in pairs]

            def med(side: int, name: str, rows: list[Any] = pairs) -> float:
                return float(statistics.median(p[side][name] for p in rows))

            lines.append(
                f"| {engine} | {len(pairs)} | {_range(wall, '{:.3f}')} | {_range(cpu, '{:.3f}')}"
                f" | {med(0, 'wall'):.3f} -> {med(1, 'wall'):.3f}"
                f" | {med(0, 'lag_max_ms'):.1f} -> {med(1, 'lag_max_ms'):.1f} |"
            )
    return "\n".join(lines)
