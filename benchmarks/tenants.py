"""Multi-tenant catalog shapes (issue 15) and their interleaved sweep against the reference.

* ``dbs`` — database per tenant: 60 PostgreSQL databases ``mi_bench_tenant_dbNN`` x 2 schemas
  x 10 tables (no views).
* ``schemas`` — schema per tenant: one PostgreSQL database ``mi_bench_tenants`` with 1000
  schemas of 3 tables, 5 views, 1 materialized view and 1 range-partitioned table with 2
  partitions; on MariaDB (schemas are databases there) 1000 schemas ``mi_bench_tenant_sNNNN``
  of 3 tables and 5 views.

Tables are small (5 columns: a key, a foreign key to the schema's first table, text, numeric,
timestamp; comments on the first table). Deterministic: no randomness at all.

    python -m benchmarks tenants --build --engine postgres --shape dbs --shape schemas
    python -m benchmarks tenants --engine postgres --shape dbs --reps 5
    python -m benchmarks tenants --drop
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import BENCH_USER, PG, _maria
from .latency_proxy import LatencyProxy
from .measure import Sampler, measure, new_app_name, snapshot_source, summarise

PORTS = {"postgres": 5432, "mariadb": 3306}


@dataclass(frozen=True, slots=True)
class Shape:
    """A multi-tenant catalog: databases x schemas x relations per schema."""

    name: str
    databases: tuple[str, ...]  # PostgreSQL databases; empty on MariaDB
    schemas: int
    tables: int
    views: int
    extras: bool  # PostgreSQL: a materialized view and a partitioned table with 2 partitions

    def schema_name(self, engine: str, index: int) -> str:
        """Schema ``index`` (unique per server on MariaDB, per database on PostgreSQL)."""
        return f"mi_bench_tenant_s{index:04d}" if engine == "mariadb" else f"mi_bench_s{index:04d}"

    def schema_regex(self, engine: str) -> str:
        """An include pattern matching exactly this shape's schemas."""
        return "^" + self.schema_name(engine, 0)[:-4] + "[0-9]{4}$"


SHAPES = {
    "dbs": Shape("dbs", tuple(f"mi_bench_tenant_db{i:02d}" for i in range(60)), 2, 10, 0, False),
    "schemas": Shape("schemas", ("mi_bench_tenants",), 1000, 3, 5, True),
}


def ddl(engine: str, shape: Shape, index: int) -> list[str]:
    """The statements creating schema ``index`` of ``shape`` on ``engine``."""
    q = (lambda n: f"`{n}`") if engine == "mariadb" else (lambda n: f'"{n}"')
    schema = q(shape.schema_name(engine, index))
    out = [
        f"CREATE DATABASE {schema}" if engine == "mariadb" else f"CREATE SCHEMA {schema}",
    ]
    stamp = "datetime" if engine == "mariadb" else "timestamptz"
    for t in range(shape.tables):
        fk = (
            ""
            if t == 0
            else f", CONSTRAINT fk_t{t} FOREIGN KEY (parent) REFERENCES {schema}.t0 (id)"
        )
        out.append(
            f"CREATE TABLE {schema}.t{t} (id bigint NOT NULL PRIMARY KEY, parent bigint,"
            f" label varchar(64), amount numeric(12,2), created {stamp}{fk})"
        )
    for v in range(shape.views):
        out.append(
            f"CREATE VIEW {schema}.v{v} AS SELECT a.id, a.label, b.amount FROM {schema}.t{v % 3} a"
            f" JOIN {schema}.t{(v + 1) % 3} b ON b.parent = a.id"
        )
    if engine == "postgres":
        out.append(f"COMMENT ON TABLE {schema}.t0 IS 'tenant {index} root'")
        if shape.extras:
            out.append(
                f"CREATE MATERIALIZED VIEW {schema}.mv AS SELECT parent, count(*) AS n"
                f" FROM {schema}.t1 GROUP BY parent WITH NO DATA"
            )
            out.append(
                f"CREATE TABLE {schema}.events (id bigint NOT NULL, day date NOT NULL,"
                f" PRIMARY KEY (id, day)) PARTITION BY RANGE (day)"
            )
            for p, (lo, hi) in enumerate(
                (("2024-01-01", "2024-07-01"), ("2024-07-01", "2025-01-01"))
            ):
                out.append(
                    f"CREATE TABLE {schema}.events_{p} PARTITION OF {schema}.events"
                    f" FOR VALUES FROM ('{lo}') TO ('{hi}')"
                )
    return out


async def build_postgres(shape: Shape) -> float:
    """(Re)create the shape's databases; one round trip per schema. Returns seconds."""
    import asyncpg

    start = time.perf_counter()
    admin = await asyncpg.connect(database="postgres", timeout=10, **PG)
    try:
        for database in shape.databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            await admin.execute(f'CREATE DATABASE "{database}"')
    finally:
        await admin.close()
    for database in shape.databases:
        conn = await asyncpg.connect(database=database, timeout=10, **PG)
        try:
            for i in range(shape.schemas):
                await conn.execute(";\n".join(ddl("postgres", shape, i)))
        finally:
            await conn.close()
    return time.perf_counter() - start


def build_mariadb(shape: Shape) -> float:
    """(Re)create the shape's schemas (and the benchmark user). Returns seconds."""
    start = time.perf_counter()
    drop_mariadb()
    conn = _maria()
    try:
        with conn.cursor() as cur:
            for i in range(shape.schemas):
                cur.execute(";\n".join(ddl("mariadb", shape, i)))
                while cur.nextset():
                    pass
            cur.execute(f"CREATE USER IF NOT EXISTS '{BENCH_USER}'@'127.0.0.1'")
            grant = f"GRANT SELECT, SHOW VIEW ON `mi\\_bench\\_%`.* TO '{BENCH_USER}'@'127.0.0.1'"
            cur.execute(grant)
    finally:
        conn.close()
    return time.perf_counter() - start


async def drop_postgres() -> None:
    """Drop every tenant-shape database."""
    import asyncpg

    admin = await asyncpg.connect(database="postgres", timeout=10, **PG)
    try:
        for shape in SHAPES.values():
            for database in shape.databases:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


def drop_mariadb() -> None:
    """Drop every tenant-shape schema on MariaDB."""
    conn = _maria()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT schema_name FROM information_schema.schemata"
                " WHERE schema_name LIKE 'mi\\_bench\\_tenant\\_s%'"
            )
            for (name,) in cur.fetchall():
                cur.execute(f"DROP DATABASE `{name}`")
    finally:
        conn.close()


# --catalog-only: what the issue measured (tables, views, columns, constraints), without the
# view lineage and stored procedures that are on by default since (the reference reads neither)
OPTIONS: dict[str, Any] = {}


def _spec(
    engine: str, shape: Shape, subject: str, threads: int, port: int, app: str, out: str
) -> dict[str, Any]:
    user = PG["user"] if engine == "postgres" else BENCH_USER
    if subject == "reference":
        args = {
            "engine": engine, "host": "127.0.0.1", "port": port, "user": user,
            "database": ",".join(shape.databases), "schema_regex": shape.schema_regex(engine),
            "app_name": app, "out": out,
        }  # fmt: skip
        return {"kind": "reference", "args": args}
    source: dict[str, Any] = {
        "type": engine, "host": "127.0.0.1", "port": port, "threads": threads,
        "service_name": "bench", "username": user,
        "schema_filter": {"includes": [shape.schema_regex(engine)]}, **OPTIONS,
    }  # fmt: skip
    if engine == "postgres":
        source.update(databases=list(shape.databases), application_name=app)
    else:
        source.update(program_name=app)
    return {"kind": subject, "config": {"source": source, "sink": {"type": "jsonl", "path": out}}}


async def _one(
    engine: str, shape: Shape, subject: str, threads: int, port: int, sampler: Sampler
) -> dict[str, Any]:
    app = new_app_name()
    workdir = Path(tempfile.mkdtemp(prefix="mi_bench_run_"))
    try:
        spec = _spec(engine, shape, subject, threads, port, app, str(workdir / "out.jsonl"))
        return await measure(spec, sampler, app)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


CONFIGS = [("reference", 1), ("metaingest", 1), ("metaingest", 4), ("metaingest", 8)]


async def sweep(engine: str, shape: Shape, reps: int, latencies: list[float]) -> dict[str, Any]:
    """Reference and threads 1/4/8, ``reps`` interleaved repetitions per latency."""
    source = snapshot_source()
    runs: list[dict[str, Any]] = []
    delay = max(latencies)
    async with Sampler(engine) as sampler, LatencyProxy(PORTS[engine], delay) as proxy:
        for subject, threads in (("metaingest", 4), ("reference", 1)):  # warm-up, unrecorded
            await _one(engine, shape, subject, threads, PORTS[engine], sampler)
        for rep in range(reps):
            for latency in latencies:
                for subject, threads in CONFIGS:
                    port = PORTS[engine] if latency == 0 else proxy.port
                    proxy.reset()
                    load = os.getloadavg()[0]
                    result = await _one(engine, shape, subject, threads, port, sampler)
                    result.update(
                        subject=subject, threads=threads, latency_ms=latency, rep=rep, load1=load
                    )
                    runs.append(result)
                    print(
                        f"{engine} {shape.name} rep {rep} {subject:10} t={threads} lat={latency}:"
                        f" wall {result['wall']:.3f} s conns {result['peak_server_connections']}"
                        f" rss {result['max_rss_mb']:.0f} MB load {load:.1f}",
                        flush=True,
                    )
    return {"engine": engine, "shape": shape.name, "source": source, "options": OPTIONS,
            "runs": runs, "ratios": ratios(runs)}  # fmt: skip


def ratios(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per repetition: metaingest wall / the same repetition's reference wall; summarised."""
    out: dict[str, Any] = {}
    reference = {
        (r["rep"], r["latency_ms"]): r["wall"] for r in runs if r["subject"] == "reference"
    }
    for run in runs:
        if run["subject"] == "reference":
            continue
        key = f"t{run['threads']} / reference, {run['latency_ms']:g} ms"
        out.setdefault(key, []).append(run["wall"] / reference[(run["rep"], run["latency_ms"])])
    summary = {key: summarise(values) for key, values in out.items()}
    for latency in sorted({r["latency_ms"] for r in runs}):
        walls = [
            r["wall"] for r in runs if r["subject"] == "reference" and r["latency_ms"] == latency
        ]
        summary[f"reference wall s, {latency:g} ms"] = summarise(walls)
    summary["peak server connections by threads"] = {
        str(t): max(r["peak_server_connections"] for r in runs if r["threads"] == t)
        for t in sorted({r["threads"] for r in runs})
    }
    summary["load1"] = summarise([r["load1"] for r in runs])
    return summary


def main(args: Any) -> None:
    """``python -m benchmarks tenants``: build, sweep or drop the tenant shapes."""
    if args.catalog_only:
        OPTIONS.update(include_lineage=False, include_stored_procedures=False)
    if args.drop:
        asyncio.run(drop_postgres())
        drop_mariadb()
        return
    if args.baseline:
        from .tenants_ab import ab

        for engine in args.engine:
            for name in args.shape:
                latencies = [0.0, args.latency] if args.latency else [0.0]
                asyncio.run(ab(engine, name, args.reps, latencies, Path(args.baseline)))
        return
    if "std" in args.shape:
        raise SystemExit("--shape std is for an A/B run (--baseline) only")
    for engine in args.engine:
        for name in args.shape:
            if engine == "mariadb" and name == "dbs":
                continue  # MariaDB has no databases above schemas: its shape is "schemas"
            if args.build:
                build(engine, name)
            else:
                run_sweep(engine, name, args.reps, [0.0, args.latency], args.catalog_only)


def shape_for(engine: str, name: str) -> Shape:
    """The shape ``name`` as built on ``engine`` (MariaDB's schemas are its databases)."""
    if engine == "mariadb":
        if name != "schemas":
            raise SystemExit("MariaDB has no databases above schemas: its shape is 'schemas'")
        return Shape("schemas", (), 1000, 3, 5, False)
    return SHAPES[name]


def build(engine: str, name: str) -> float:
    """Build one shape on one engine (dropping it first); prints and returns seconds."""
    shape = shape_for(engine, name)
    seconds = asyncio.run(build_postgres(shape)) if engine == "postgres" else build_mariadb(shape)
    print(f"{engine} {name}: built in {seconds:.1f} s", flush=True)
    return seconds


def run_sweep(
    engine: str, name: str, reps: int, latencies: list[float], catalog_only: bool
) -> Path:
    """Sweep one shape, write ``results/<date>-tenants-<engine>-<shape>[-catalog-only].json``."""
    import json

    if catalog_only:
        OPTIONS.update(include_lineage=False, include_stored_procedures=False)
    data = asyncio.run(sweep(engine, shape_for(engine, name), reps, latencies))
    stamp = time.strftime("%Y-%m-%d")
    tag = f"{engine}-{name}" + ("-catalog-only" if catalog_only else "")
    path = Path(__file__).parent / "results" / f"{stamp}-tenants-{tag}.json"
    path.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    print(json.dumps(data["ratios"], indent=1))
    print(f"wrote {path}")
    return path
