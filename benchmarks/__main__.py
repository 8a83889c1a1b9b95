"""``python -m benchmarks <command>``: catalog, reference, sweep, roundtrips, scaling, report."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from .catalog import CatalogSize


def _size(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", type=int, default=40)
    parser.add_argument("--tables", type=int, default=50)
    parser.add_argument("--columns", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)


def _catalog(args: argparse.Namespace) -> None:
    from . import catalog

    size = CatalogSize(args.schemas, args.tables, args.columns)
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
            seconds = asyncio.run(catalog.build_postgres(size, args.seed, args.jobs))
        elif engine == "mariadb":
            seconds = catalog.build_mariadb(size, args.seed)
        else:
            seconds = catalog.build_sqlite(size, args.sqlite_dir, args.seed)
        counts = catalog.expected_counts(engine, size)
        print(f"{engine}: built {size.tag} ({json.dumps(counts)}) in {seconds:.1f} s")


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m benchmarks``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("catalog", help="build (or --drop) a synthetic catalog")
    _size(p)
    p.add_argument("--engine", action="append", choices=("postgres", "mariadb", "sqlite"))
    p.add_argument("--drop", action="store_true", help="drop this size's catalog")
    p.add_argument("--all", action="store_true", help="with --drop: every mi_bench_* object")
    p.add_argument("--jobs", type=int, default=1, help="PostgreSQL: connections building at once")
    p.add_argument("--sqlite-dir", default="/tmp")
    p.set_defaults(func=_catalog)

    args = parser.parse_args(argv)
    if getattr(args, "engine", None) is None and args.command == "catalog":
        args.engine = ["postgres"]
    args.func(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
