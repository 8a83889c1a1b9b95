"""``python -m benchmarks <command>``: catalog, sweep, scaling, lag, lag-ab, lag-probe, report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from .catalog import CatalogSize

SHAPES = ("std", "dbs", "schemas")
SHAPE_HELP = (
    "std: the SxTxC catalog; dbs: 60 databases x 2 schemas x 10 tables (PostgreSQL); "
    "schemas: 1000 small schemas (benchmarks/tenants.py)"
)


def _size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", type=int, default=40)
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)


def _catalog(args: argparse.Namespace) -> None:
    from . import catalog

    size = CatalogSize(args.schemas, args.tables, args.columns)
    if args.shape != "std":  # issue 15's multi-tenant shapes (benchmarks/tenants.py)
        from . import tenants

        for engine in args.engine:
            if args.drop and engine == "postgres":
                asyncio.run(tenants.drop_postgres())
            elif args.drop:
                tenants.drop_mariadb()
            if args.drop:
                print(f"{engine}: dropped the tenant shapes")
            else:
                tenants.build(engine, args.shape)
        return
    for engine in args.engine:
        if args.drop:
            if engine == "postgres":
                names = asyncio.run(catalog.drop_postgres(None if args.all else size))
            elif engine == "mariadb":
                names = catalog.drop_mariadb(None if args.all else size, user=args.all)
            else:
                import shutil
                from pathlib import Path

                shutil.rmtree(Path(args.sqlite_dir) / size.database, ignore_errors=True)
                names = [size.database]
            print(f"{engine}: dropped {len(names)}: {' '.join(names)[:200]}")
            continue
        if engine == "postgres":
            seconds = asyncio.run(catalog.build_postgres(size, args.seed))
        elif engine == "mariadb":
            seconds = catalog.build_mariadb(size, args.seed)
        else:
            seconds = catalog.build_sqlite(size, args.sqlite_dir, args.seed)
        counts = catalog.expected_counts(engine, size)
        print(f"{engine}: built {size.tag} ({json.dumps(counts)}) in {seconds:.1f} s")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def _sweep(args: argparse.Namespace) -> None:
    from .sweep import sweep

    size = CatalogSize(args.schemas, args.tables, args.columns)
    latencies = [float(x) for x in args.latencies.split(",")]
    if args.shape != "std":  # threads 1, 4, 8 on a multi-tenant shape (benchmarks/tenants.py)
        from .tenants import run_sweep

        for engine in args.engine:
            run_sweep(engine, args.shape, args.reps, latencies, args.catalog_only)
        return
    for engine in args.engine:
        asyncio.run(sweep(engine, size, args.reps, _ints(args.threads), latencies))


def _roundtrips(args: argparse.Namespace) -> None:
    from .sweep import roundtrips

    shapes = [tuple(_ints(s.replace("x", ","))) for s in args.shapes.split(";")]
    for engine in args.engine:
        asyncio.run(roundtrips(engine, shapes, args.columns))  # type: ignore[arg-type]


def _scaling(args: argparse.Namespace) -> None:
    from .sweep import scaling

    sizes = []
    for item in args.sizes.split(";"):
        shape, _, reps = item.partition(":")
        sizes.append((CatalogSize(*_ints(shape.replace("x", ","))), int(reps or args.reps)))
    asyncio.run(scaling(sizes, args.threads, args.keep, args.max_seconds, args.reuse))


def _tenants(args: argparse.Namespace) -> None:
    from .tenants import main as tenants_main

    args.shape = args.shape or ["dbs", "schemas"]
    tenants_main(args)


def _sizes(text: str) -> list[CatalogSize]:
    return [CatalogSize(*_ints(shape.replace("x", ","))) for shape in text.split(",")]


def _lag(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .lag import lag

    baseline = Path(args.baseline) if args.baseline else None
    gc = tuple(args.gc.split(","))
    subjects = args.subjects.split(",") if args.subjects else None
    lag(args.engine, _sizes(args.sizes), args.reps, args.threads, gc, baseline, subjects, args.tag)


def _lag_idle(args: argparse.Namespace) -> None:
    from .lag import idle

    idle(args.reps)


def _lag_ab(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .lag import ab

    ab(Path(args.baseline), args.engine, _sizes(args.size)[0], args.pairs)


def _lag_probe(args: argparse.Namespace) -> None:
    from .lag_probe import held, probe

    if args.held:
        for size in _sizes(args.sizes):
            held(size)
        return
    for engine in args.engine:
        for size in _sizes(args.sizes):
            probe(engine, size, args.subject, args.gc, args.top, args.sample, args.threads)


def _lag_render(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .lag import render

    print(render(args.lag and Path(args.lag), args.ab and Path(args.ab)))


def _store(args: argparse.Namespace) -> None:
    from . import store

    if args.scaling:
        sizes = [CatalogSize(*_ints(s.replace("x", ","))) for s in args.scaling.split(",")]
        print(asyncio.run(store.scaling(sizes)))
    else:
        store.main_ratios(args.reps)


def _report(args: argparse.Namespace) -> None:
    from .report import main as report_main

    report_main()


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("catalog", help="build (or --drop) a synthetic catalog")
    _size(p)
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb", "sqlite"))
    p.add_argument("--drop", action="store_true", help="drop this size's catalog")
    p.add_argument("--all", action="store_true", help="with --drop: every mi_bench_* object")
    p.add_argument("--sqlite-dir", default="/tmp")
    p.add_argument("--shape", choices=SHAPES, default="std", help=SHAPE_HELP)
    p.set_defaults(func=_catalog)

    p = sub.add_parser("sweep", help="threads x latency sweep, fresh process per run")
    _size(p)
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", default="1,2,4,8")
    p.add_argument("--latencies", default="0,2", help="ms added each way; 0 = direct")
    p.add_argument("--shape", choices=SHAPES, default="std", help=SHAPE_HELP)
    p.add_argument("--catalog-only", action="store_true", help="no lineage, no routines")
    p.set_defaults(func=_sweep)

    p = sub.add_parser("roundtrips", help="count protocol turns per catalog shape")
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb"))
    p.add_argument("--shapes", default="10x50;10x200;20x50", help="SCHEMASxTABLES;...")
    p.add_argument("--columns", type=int, default=12)
    p.set_defaults(func=_roundtrips)

    p = sub.add_parser("scaling", help="PostgreSQL catalogs of growing size at one threads")
    p.add_argument("--sizes", default="40x50x12:3;400x50x12;2000x50x12", help="SxTxC[:reps];...")
    p.add_argument("--max-seconds", type=float, default=600.0, help="budget of one run")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the catalogs afterwards")
    p.add_argument("--reuse", action="store_true", help="use a catalog already built")
    p.set_defaults(func=_scaling)

    p = sub.add_parser("tenants", help="multi-tenant shapes: --build, sweep, or --drop")
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb"))
    p.add_argument("--shape", action="append", choices=("dbs", "schemas", "std"))
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--latency", type=float, default=2.0, help="ms added each way")
    p.add_argument("--build", action="store_true")
    p.add_argument("--catalog-only", action="store_true", help="no view lineage, no routines")
    p.add_argument("--drop", action="store_true", help="drop every tenant-shape object")
    p.add_argument(
        "--baseline",
        help="A/B: this src against the baseline's src directory, threads 4 and 8 (--shape std:"
        " the standard 40x50x12 catalog)",
    )
    p.set_defaults(func=_tenants)

    p = sub.add_parser("lag", help="the host loop's lag beside a run, per size and sink")
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb"))
    p.add_argument("--sizes", default="2x100x12,2x1000x12,2x10000x12", help="SxTxC,...")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--gc", default="default,deferred", help="default, deferred, off")
    p.add_argument("--baseline", help="measure this src directory instead (another commit's)")
    p.add_argument("--subjects", help="stream,ingest:<sink>,... (default: every sink, stream)")
    p.add_argument("--tag", default="", help="appended to the results file's name")
    p.set_defaults(func=_lag)

    p = sub.add_parser("lag-idle", help="the ticker alone: the machine's own lag")
    p.add_argument("--reps", type=int, default=5)
    p.set_defaults(func=_lag_idle)

    p = sub.add_parser("lag-ab", help="wall and CPU of this src against a baseline src")
    p.add_argument("--baseline", required=True, help="the baseline's src directory")
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb"))
    p.add_argument("--size", default="40x50x12")
    p.add_argument("--pairs", type=int, default=8)
    p.set_defaults(func=_lag_ab)

    p = sub.add_parser("lag-probe", help="the longest event-loop callbacks of one run, by CPU")
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb"))
    p.add_argument("--sizes", default="2x10000x12", help="SxTxC,...")
    p.add_argument("--subject", default="ingest:jsonl", help="stream, ingest:<sink>")
    p.add_argument("--gc", default="off", help="default, deferred, off")
    p.add_argument("--top", type=int, default=12)
    p.add_argument("--sample", type=int, default=50, help="count tracked objects every N")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--held", action="store_true", help="tracked objects of one built schema")
    p.set_defaults(func=_lag_probe)

    p = sub.add_parser("lag-render", help="markdown tables of lag results")
    p.add_argument("--lag", help="results/<date>-lag.json")
    p.add_argument("--ab", help="results/<date>-lag-ab.json")
    p.set_defaults(func=_lag_render)

    p = sub.add_parser("store", help="catalog store runs / JSONL runs; --scaling: write time")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--scaling", default="", help="SxTxC,...: re-runs with 10 changed tables")
    p.set_defaults(func=_store)

    p = sub.add_parser("report", help="README tables and the plot from results/*.json")
    p.set_defaults(func=_report)

    args = parser.parse_args(argv)
    if getattr(args, "engine", None) is None:
        args.engine = ["postgres"]
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
