"""One measured run in a fresh process: ``python -m benchmarks.child '<json spec>'``.

The spec says what to run — ``{"kind": "metaingest", "config": {...}}`` or
``{"kind": "reference", "args": {...}}`` — and the child prints one JSON line: wall time of
the run (drivers and metaingest are imported before the clock starts, for both kinds), CPU
time of the run (user + system, every thread), and the process's peak RSS (``ru_maxrss``,
which does include the imports: that is the memory a user pays).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_metaingest(config: dict[str, Any]) -> dict[str, Any]:
    """Run one workflow; return what its report counted."""
    import anyio

    import metaingest.connectors
    from metaingest.config import parse_config
    from metaingest.workflow import Workflow

    workflow_config = parse_config(config)
    metaingest.connectors.create_connector(workflow_config.source)  # import the driver now
    start, cpu = time.perf_counter(), _cpu()
    report = anyio.run(Workflow(workflow_config).run)
    wall, cpu = time.perf_counter() - start, _cpu() - cpu
    return {
        "wall": wall,
        "cpu": cpu,
        "tables": report.tables,
        "views": report.views,
        "columns": report.columns,
        "schemas": report.schemas,
        "errors": report.errors,
        "warnings": report.warnings,
        "issues": [i.message for i in report.issues[:3]],
        "pool_peak_connections": report.peak_connections,
        "ok": report.ok,
    }


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
    else:
        result = run_reference(spec["args"])
    result["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["cpu_total"] = _cpu()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
