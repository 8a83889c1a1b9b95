"""View lineage on the PostgreSQL benchmark catalog: correctness against the server's own
dependency records, parsing throughput, and what lineage costs a run.

    python -m benchmarks.lineage [--schemas 20] [--reps 3] [--reuse]

- subset: every parsed column edge must be in ``pg_depend`` (a violation is a parser bug);
- recall: parsed column edges / columns the server records the views as reading. The records
  also hold columns read only in WHERE, JOIN, GROUP BY or ORDER BY, which feed no output
  column, so recall below 1 is expected; it is reported, not a target;
- direct path: on every view, ``parse_view`` with and without the direct path; how many views
  it answers, and how many answers differ from sqlglot's lineage walk (must be 0); the same
  for the fast reader (``parse_view`` on the text: the reader first, sqlglot where it
  declines);
- parse rate: views per CPU second (best of 5) of ``parse_view`` on the text (``reader``, the
  hot path), and of ``parse_definition`` + ``parse_view`` with and without the direct path;
- cost: wall and CPU of the CLI (``python -m metaingest ingest``, JSONL sink, threads 4) with
  lineage on / off, each run a fresh process (imports included), interleaved on/off after a
  warm-up pair, median of the per-pair ratios.

``--reuse`` reads the catalog's existing database (e.g. the shared ``mi_bench_40x50x12``)
instead of building it and dropping it afterwards.

Results go to ``benchmarks/results/<date>-postgres-lineage.json`` (``...-sqlglotc.json`` when
sqlglot's compiled build is the one imported).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from benchmarks.catalog import PG, CatalogSize, build_postgres, drop_postgres
from benchmarks.lineage_reader import views_per_cpu_second
from metaingest.config import parse_config
from metaingest.entities import Table, build_fqn
from metaingest.lineage import fast
from metaingest.lineage.direct import direct_columns
from metaingest.lineage.parse import (
    Parsed,
    Relation,
    known_relations,
    parse_definition,
    parse_view,
)
from metaingest.workflow import Workflow

RESULTS = Path(__file__).resolve().parent / "results"

# Every column each view's rules depend on, by name: the oracle parsed edges are checked
# against (independent of the connector's own dependency query). tests/test_lineage.py too.
DEPENDS = """
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
WHERE v.relkind IN ('v', 'm')
"""
_DEPENDS = DEPENDS + "AND vn.nspname LIKE 'mi\\_bench\\_%'\n"


def _source(size: CatalogSize, lineage: bool) -> dict[str, Any]:
    return {
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


async def _tables(size: CatalogSize, out: str) -> tuple[dict[str, Table], list[str]]:
    """Every table and view of the catalog (lineage on), and the lineage problems reported."""
    config = parse_config({"source": _source(size, True), "sink": {"type": "jsonl", "path": out}})
    tables: dict[str, Table] = {}
    problems: list[str] = []
    async with Workflow(config).stream() as batches:
        async for batch in batches:
            problems += [f"{i.fqn}: {i.message}" for i in batch.issues if "lineage" in i.message]
            tables.update({t.fqn: t for t in batch.tables})
    return tables, problems


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


def _parse_rate(
    tables: dict[str, Table], size: CatalogSize
) -> tuple[dict[str, float], int, int, list[str], int, list[str]]:
    """Views per CPU second (best of 5) of the reader's hot path and with and without the
    direct path; how many views the direct path answers; the views where its answer differs
    from the lineage walk; the same two for the fast reader."""
    relations = [
        Relation(
            t.fqn,
            size.database,
            t.database_schema.rsplit(".", 1)[1],
            t.name,
            tuple(c.name for c in t.columns),
        )
        for t in tables.values()
    ]
    known = known_relations(relations, "postgres")
    views = [t for t in tables.values() if t.lineage is not None and t.view_definition]

    def parse(view: Table, direct: bool) -> Parsed:
        assert view.view_definition is not None
        return parse_view(
            parse_definition(view.view_definition, "postgres"),
            dialect="postgres",
            view_columns=[c.name for c in view.columns],
            catalog=size.database,
            db=view.database_schema.rsplit(".", 1)[1],
            relations=known,
            direct=direct,
        )

    def hot(view: Table) -> Parsed:
        assert view.view_definition is not None
        return parse_view(
            view.view_definition,
            dialect="postgres",
            view_columns=[c.name for c in view.columns],
            catalog=size.database,
            db=view.database_schema.rsplit(".", 1)[1],
            relations=known,
        )

    rates = {}
    for name, one in (
        ("reader", hot),
        ("direct", lambda v: parse(v, True)),
        ("walk_only", lambda v: parse(v, False)),
    ):
        rates[name] = views_per_cpu_second(views, one)
    answered, differ, read, read_differ = 0, [], 0, []
    for view in views:
        query = parse_definition(view.view_definition or "", "postgres")
        assert not isinstance(query, str)
        columns = [c.name for c in view.columns]
        schema = view.database_schema.rsplit(".", 1)[1]
        if direct_columns(query, known, size.database, schema, columns) is not None:
            answered += 1
        walked = parse(view, False)
        if parse(view, True) != walked:
            differ.append(view.fqn)
        reading = fast.read(view.view_definition or "", "postgres")
        if (
            reading is not None
            and reading.columns(known, size.database, schema, columns) is not None
        ):
            read += 1
        if hot(view) != walked:
            read_differ.append(view.fqn)
    return rates, len(views), answered, differ, read, read_differ


def _cli_ab(size: CatalogSize, reps: int, tmp: str) -> dict[str, Any]:
    """Fresh CLI processes, lineage on / off interleaved: wall and CPU (user + system)."""
    paths = {}
    for lineage in (True, False):
        path = paths[lineage] = os.path.join(tmp, f"workflow-{lineage}.json")
        out = os.path.join(tmp, f"out-{lineage}.jsonl")
        doc = {"source": _source(size, lineage), "sink": {"type": "jsonl", "path": out}}
        Path(path).write_text(json.dumps(doc), encoding="utf-8")

    def one(lineage: bool) -> tuple[float, float]:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        command = [sys.executable, "-m", "metaingest", "ingest", "-q", "-c", paths[lineage]]
        subprocess.run(command, check=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
        return wall, cpu

    one(True), one(False)  # warm-up: the server's caches
    walls, cpus, raw = [], [], []
    for rep in range(reps):
        order = (True, False) if rep % 2 == 0 else (False, True)
        got = {lineage: one(lineage) for lineage in order}
        walls.append(got[True][0] / got[False][0])
        cpus.append(got[True][1] / got[False][1])
        raw.append(
            {"on": [round(x, 3) for x in got[True]], "off": [round(x, 3) for x in got[False]]}
        )
    return {
        "wall_on_over_off": _spread(walls),
        "cpu_on_over_off": _spread(cpus),
        "runs_wall_cpu_seconds": raw,
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


async def main(schemas: int, reps: int, reuse: bool) -> dict[str, Any]:
    size = CatalogSize(schemas, 50, 12)
    if not reuse:
        await build_postgres(size)
    load = [os.getloadavg()[0]]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "out.jsonl")
            tables, problems = await _tables(size, out)
            views = {fqn: t for fqn, t in tables.items() if t.lineage is not None}
            depends = await _depends(size)
            parsed = {
                fqn: {edge for c in t.lineage.columns for edge in c.upstream}
                for fqn, t in views.items()
                if t.lineage is not None
            }
            outside = sum(len(edges - depends.get(fqn, set())) for fqn, edges in parsed.items())
            recorded = sum(len(d) for d in depends.values())
            inside = sum(len(edges & depends.get(fqn, set())) for fqn, edges in parsed.items())
            rates, count, answered, differ, read, read_differ = _parse_rate(tables, size)
            load.append(os.getloadavg()[0])
            cli = await anyio.to_thread.run_sync(_cli_ab, size, reps, tmp)
            load.append(os.getloadavg()[0])
    finally:
        if not reuse:
            await drop_postgres(size)
    import sqlglot
    import sqlglot.parser

    # sqlglotc replaces sqlglot's modules with compiled ones of the same names
    compiled = not sqlglot.parser.__file__.endswith(".py")
    return {
        "date": date.today().isoformat(),
        "catalog": size.tag,
        "views": count,
        "lineage_problems": problems,
        "parsed_edges_outside_dependency_records": outside,
        "recall_vs_dependency_records": round(inside / recorded, 3) if recorded else None,
        "direct_path_views": answered,
        "direct_path_differs_from_walk": differ,
        "reader_views": read,
        "reader_differs_from_walk": read_differ,
        "parse_views_per_cpu_second": rates,
        "sqlglot": sqlglot.__version__,
        "sqlglot_compiled": compiled,
        "cli_threads_4_lineage_on_over_off": cli,
        "load1": load,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", type=int, default=20)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="read the existing catalog")
    args = parser.parse_args()
    result = anyio.run(main, args.schemas, args.reps, args.reuse)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-sqlglotc" if result["sqlglot_compiled"] else ""
    path = RESULTS / f"{result['date']}-postgres-lineage{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
