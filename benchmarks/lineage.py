"""View lineage on the PostgreSQL benchmark catalog: correctness against the server's own
dependency records, parsing throughput, and what lineage costs a run.

    python -m benchmarks.lineage [--schemas 20] [--reps 3]

- subset: every parsed column edge must be in ``pg_depend`` (a violation is a parser bug);
- recall: parsed column edges / columns the server records the views as reading. The records
  also hold columns read only in WHERE, JOIN, GROUP BY or ORDER BY, which feed no output
  column, so recall below 1 is expected; it is reported, not a target;
- parse rate: views per second of ``parse_view`` alone (CPU time, best of 5);
- cost: wall and CPU of ``Workflow.run()`` (JSONL sink, threads 4) with lineage on / off,
  interleaved in one process after a warm-up, median of the per-repetition ratios.

Results go to ``benchmarks/results/<date>-postgres-lineage.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from benchmarks.catalog import PG, CatalogSize, build_postgres, drop_postgres
from metaingest.config import parse_config
from metaingest.entities import Table, build_fqn
from metaingest.lineage.parse import Relation, known_relations, parse_definition, parse_view
from metaingest.workflow import Workflow

RESULTS = Path(__file__).resolve().parent / "results"

_DEPENDS = """
SELECT vn.nspname AS view_schema, v.relname AS view_name, rn.nspname AS ref_schema,
       r.relname AS ref_name, a.attname AS ref_column
FROM pg_class v
JOIN pg_namespace vn ON vn.oid = v.relnamespace
JOIN pg_rewrite rw ON rw.ev_class = v.oid
JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
    AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> v.oid AND d.refobjsubid > 0
JOIN pg_class r ON r.oid = d.refobjid
JOIN pg_namespace rn ON rn.oid = r.relnamespace
JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE v.relkind IN ('v', 'm') AND vn.nspname LIKE 'mi\\_bench\\_%'
"""


def _config(size: CatalogSize, lineage: bool, out: str) -> Any:
    source = {
        "type": "postgres",
        "host": PG["host"],
        "port": PG["port"],
        "username": PG["user"],
        "database": size.database,
        "service_name": "bench",
        "threads": 4,
        "include_lineage": lineage,
        "schema_filter": {"includes": [size.schema_regex("postgres")]},
    }
    return parse_config({"source": source, "sink": {"type": "jsonl", "path": out}})


async def _views(size: CatalogSize, out: str) -> tuple[dict[str, Table], list[str]]:
    views: dict[str, Table] = {}
    problems: list[str] = []
    async with Workflow(_config(size, True, out)).stream() as batches:
        async for batch in batches:
            problems += [f"{i.fqn}: {i.message}" for i in batch.issues if "lineage" in i.message]
            views.update({t.fqn: t for t in batch.tables if t.lineage is not None})
    return views, problems


async def _depends(size: CatalogSize) -> dict[str, set[str]]:
    conn = await asyncpg.connect(database=size.database, **PG)
    try:
        rows = await conn.fetch(_DEPENDS)
    finally:
        await conn.close()
    out: dict[str, set[str]] = {}
    for row in rows:
        view = build_fqn("bench", size.database, row["view_schema"], row["view_name"])
        ref = build_fqn(
            "bench", size.database, row["ref_schema"], row["ref_name"], row["ref_column"]
        )
        out.setdefault(view, set()).add(ref)
    return out


def _parse_rate(views: dict[str, Table], size: CatalogSize) -> tuple[float, int]:
    """Views per CPU second of parse_view over every view (best of 5)."""
    relations = [
        Relation(
            t.fqn,
            size.database,
            t.database_schema.rsplit(".", 1)[1],
            t.name,
            tuple(c.name for c in t.columns),
        )
        for t in views.values()
    ]
    known = known_relations(relations, "postgres")
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for table in views.values():
            assert table.view_definition is not None
            parse_view(
                parse_definition(table.view_definition, "postgres"),
                dialect="postgres",
                view_columns=[c.name for c in table.columns],
                catalog=size.database,
                db=table.database_schema.rsplit(".", 1)[1],
                relations=known,
            )
        best = min(best, time.process_time() - start)
    return len(views) / best, len(views)


async def _timed(size: CatalogSize, lineage: bool, out: str) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    report = await Workflow(_config(size, lineage, out)).run()
    assert report.ok, report.issues[:3]
    return time.perf_counter() - wall, time.process_time() - cpu


async def main(schemas: int, reps: int) -> dict[str, Any]:
    size = CatalogSize(schemas, 50, 12)
    await build_postgres(size)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.jsonl")
            views, problems = await _views(size, out)
            depends = await _depends(size)
            parsed = {
                fqn: {edge for c in t.lineage.columns for edge in c.upstream}
                for fqn, t in views.items()
                if t.lineage is not None
            }
            outside = sum(len(edges - depends.get(fqn, set())) for fqn, edges in parsed.items())
            recorded = sum(len(d) for d in depends.values())
            inside = sum(len(edges & depends.get(fqn, set())) for fqn, edges in parsed.items())
            rate, count = _parse_rate(views, size)
            await _timed(size, True, out)  # warm-up
            await _timed(size, False, out)
            walls, cpus = [], []
            for _ in range(reps):
                on, off = await _timed(size, True, out), await _timed(size, False, out)
                walls.append(on[0] / off[0])
                cpus.append(on[1] / off[1])
    finally:
        await drop_postgres(size)
    try:
        import sqlglotc  # noqa: F401

        compiled = True
    except ImportError:
        compiled = False
    return {
        "date": date.today().isoformat(),
        "catalog": size.tag,
        "views": count,
        "lineage_problems": problems,
        "parsed_edges_outside_dependency_records": outside,
        "recall_vs_dependency_records": round(inside / recorded, 3) if recorded else None,
        "parse_views_per_cpu_second": round(rate),
        "sqlglot_compiled": compiled,
        "run_wall_lineage_on_over_off": {
            "median": round(statistics.median(walls), 3),
            "min": round(min(walls), 3),
            "max": round(max(walls), 3),
        },
        "run_cpu_lineage_on_over_off": {
            "median": round(statistics.median(cpus), 3),
            "min": round(min(cpus), 3),
            "max": round(max(cpus), 3),
        },
        "load1": os.getloadavg()[0],
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    result = anyio.run(main, args.schemas, args.reps)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{result['date']}-postgres-lineage.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
