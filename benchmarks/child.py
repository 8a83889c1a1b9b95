"""One measured run in a fresh process: ``python -m benchmarks.child '<json spec>'``.

The spec says what to run — ``{"kind": "metaingest", "config": {...}}`` (the command line,
``python -m metaingest ingest -c <file> -q --report <file>``, through ``cli.main`` in this
process), ``{"kind": "metaingest-api", "config": {...}}`` (``Workflow(config).run()``, as an
application embedding the library runs it) or ``{"kind": "reference", "args": {...}}`` — and
the child prints one JSON line: wall time of the run (drivers and metaingest are imported
before the clock starts, for every kind), CPU time of the run (user + system, every thread),
and the process's peak RSS (``ru_maxrss``, which does include the imports: that is the
memory a user pays).

The two metaingest kinds differ in the GC policy: the command line collects less often during
a run (``cli._run_gc_policy``); the library leaves the embedding process's policy alone.
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metaingest.config import WorkflowConfig


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _prepare(config: dict[str, Any]) -> WorkflowConfig:
    """Import everything a run needs before the clock starts: the driver and anyio's asyncio
    backend (imported on the first anyio.run, ~10 ms: an import, like the others; the
    reference's asyncio is imported with its drivers). Returns the parsed config."""
    import metaingest.connectors
    from metaingest.config import parse_config

    workflow_config = parse_config(config)
    metaingest.connectors.create_connector(workflow_config.source)  # imports the driver
    if workflow_config.sink.type == "catalog":  # the store's SQLAlchemy, dialect and driver
        from sqlalchemy.engine import make_url

        import metaingest.sinks.catalog
        import metaingest.store.queries

        url = make_url(workflow_config.sink.url)
        url.get_dialect()
        importlib.import_module("aiosqlite" if url.get_backend_name() == "sqlite" else "asyncpg")
    importlib.import_module("anyio._backends._asyncio")
    return workflow_config


def _counts(report: dict[str, Any]) -> dict[str, Any]:
    return {
        "tables": report["tables"],
        "views": report["views"],
        "columns": report["columns"],
        "schemas": report["schemas"],
        "errors": report["errors"],
        "warnings": report["warnings"],
        "issues": [i["message"] for i in report["issues"][:3]],
        "pool_peak_connections": report["peak_connections"],
    }


def run_metaingest(config: dict[str, Any]) -> dict[str, Any]:
    """Run the command line once; return what its report counted."""
    from metaingest import cli

    _prepare(config)
    with tempfile.TemporaryDirectory(prefix="mi_bench_cli_") as tmp:
        workflow = Path(tmp, "workflow.yaml")
        workflow.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        report = Path(tmp, "report.json")
        argv = ["ingest", "-c", str(workflow), "-q", "--report", str(report)]
        start, cpu = time.perf_counter(), _cpu()
        code = cli.main(argv)
        wall, cpu = time.perf_counter() - start, _cpu() - cpu
        counts = _counts(json.loads(report.read_text(encoding="utf-8")))
    return {"wall": wall, "cpu": cpu, **counts, "exit_code": code, "ok": code == 0}


def run_metaingest_api(config: dict[str, Any]) -> dict[str, Any]:
    """Run one workflow through the library API; return what its report counted."""
    import anyio

    from metaingest.workflow import Workflow

    workflow_config = _prepare(config)
    start, cpu = time.perf_counter(), _cpu()
    report = anyio.run(Workflow(workflow_config).run)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    counts = _counts(report.model_dump(mode="json"))
    return {"wall": wall, "cpu": cpu, **counts, "ok": report.ok}


def run_reference(args: dict[str, Any]) -> dict[str, Any]:
    """Run the reference reader once."""
    import asyncio

    import aiomysql  # noqa: F401  (imported before the clock, like metaingest's driver)
    import asyncpg  # noqa: F401

    from benchmarks import reference

    start, cpu = time.perf_counter(), _cpu()
    count = asyncio.run(reference.run(argparse.Namespace(**args)))
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    return {"wall": wall, "cpu": cpu, "tables_and_views": count, "ok": True}


def main() -> None:
    """Run the spec in argv[1]; print the measurement as one JSON line."""
    spec = json.loads(sys.argv[1])
    if spec["kind"] == "metaingest":
        result = run_metaingest(spec["config"])
    elif spec["kind"] == "metaingest-api":
        result = run_metaingest_api(spec["config"])
    elif spec["kind"] == "metaingest-store":
        from benchmarks.store import run_timed

        _prepare(spec["config"])
        result = run_timed(spec["config"])
    else:
        result = run_reference(spec["args"])
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["cpu_total"] = _cpu()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
