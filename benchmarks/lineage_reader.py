"""The fast lineage reader (metaingest.lineage.fast) against sqlglot, on the benchmark
catalog's stored view definitions: views per CPU second and the share the reader answers.

    python -m benchmarks.lineage_reader [--schemas 40] [--engine postgres --engine mariadb]

Reads the existing ``40x50x12`` catalog (``python -m benchmarks catalog``), read-only: the
PostgreSQL database ``mi_bench_40x50x12`` (``pg_get_viewdef(oid, true)``, as the connector
reads it) and the MariaDB schemas ``mi_bench_40x50x12_sNNNN``
(``information_schema.VIEWS.VIEW_DEFINITION``). Per engine, best of 5, CPU time:

- ``reader``: ``parse_view`` on the text, the hot path (the reader first, sqlglot only where it
  declines);
- ``sqlglot_direct``: ``parse_definition`` + ``parse_view`` with the direct path (before the
  reader);
- ``sqlglot_parse``: ``parse_definition`` alone;

and ``answered``: views the reader answers alone; ``differ``: views where the hot path's answer
differs from sqlglot's (must be empty). Prints JSON; writes nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import anyio
import asyncpg

from benchmarks.catalog import MARIA, PG, CatalogSize
from metaingest.connectors.sqltext import view_query
from metaingest.entities import build_fqn
from metaingest.lineage import fast
from metaingest.lineage.index import RelationIndex
from metaingest.lineage.parse import Relation, known_relations, parse_definition, parse_view

# (schema, definition, view columns)
View = tuple[str, str, list[str]]

_PG_RELATIONS = """
SELECT n.nspname AS schema, c.relname AS name,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS sql,
       array(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0
             AND NOT a.attisdropped ORDER BY a.attnum) AS columns
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'v', 'm', 'p', 'f') AND n.nspname ~ $1
"""


async def _postgres(size: CatalogSize) -> tuple[list[Relation], list[View]]:
    conn = await asyncpg.connect(database=size.database, **PG)
    try:
        rows = await conn.fetch(_PG_RELATIONS, size.schema_regex("postgres"))
    finally:
        await conn.close()
    relations = [
        Relation(
            build_fqn("bench", size.database, r["schema"], r["name"]),
            size.database,
            r["schema"],
            r["name"],
            tuple(r["columns"]),
        )
        for r in rows
    ]
    views = [
        (r["schema"], view_query(r["sql"]) or "", list(r["columns"])) for r in rows if r["sql"]
    ]
    return relations, views


def _mariadb(size: CatalogSize) -> tuple[list[Relation], list[View]]:
    import pymysql

    conn = pymysql.connect(**MARIA, charset="utf8mb4")  # type: ignore[arg-type]
    pattern = size.schema_regex("mariadb")
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_schema, table_name, column_name FROM information_schema.COLUMNS"
                " WHERE table_schema REGEXP %s ORDER BY table_schema, table_name,"
                " ordinal_position",
                (pattern,),
            )
            columns: dict[tuple[str, str], list[str]] = {}
            for schema, table, column in cur.fetchall():
                columns.setdefault((schema, table), []).append(column)
            cur.execute(
                "SELECT table_schema, table_name, view_definition FROM information_schema.VIEWS"
                " WHERE table_schema REGEXP %s",
                (pattern,),
            )
            rows = cur.fetchall()
    finally:
        conn.close()
    relations = [
        Relation(build_fqn("bench", "default", s, t), None, s, t, tuple(c))
        for (s, t), c in columns.items()
    ]
    return relations, [(s, sql, columns[(s, t)]) for s, t, sql in rows]


def views_per_cpu_second(views: list[Any], one: Callable[[Any], object]) -> int:
    """Views per CPU second, best of 5."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for view in views:
            one(view)
        best = min(best, time.process_time() - start)
    return round(len(views) / best)


def measure(
    dialect: str, catalog: str | None, relations: list[Relation], views: list[View]
) -> dict[str, Any]:
    index: RelationIndex = known_relations(relations, dialect)

    def kwargs(view: View) -> dict[str, Any]:
        schema, _, columns = view
        return {
            "dialect": dialect,
            "view_columns": columns,
            "catalog": catalog,
            "db": schema,
            "relations": index,
        }

    def reader(view: View) -> object:
        return parse_view(view[1], **kwargs(view))

    def sqlglot_direct(view: View) -> object:
        return parse_view(parse_definition(view[1], dialect), **kwargs(view))

    def sqlglot_parse(view: View) -> object:
        return parse_definition(view[1], dialect)

    answered = 0
    for schema, sql, columns in views:
        reading = fast.read(sql, dialect)
        if reading is not None and reading.columns(index, catalog, schema, columns) is not None:
            answered += 1
    differ = [v[1] for v in views if reader(v) != sqlglot_direct(v)]
    rates = {
        "reader": views_per_cpu_second(views, reader),
        "sqlglot_direct": views_per_cpu_second(views, sqlglot_direct),
        "sqlglot_parse": views_per_cpu_second(views, sqlglot_parse),
    }
    return {
        "views": len(views),
        "answered": answered,
        "differ": differ,
        "views_per_cpu_second": rates,
        "reader_over_sqlglot_direct": round(rates["reader"] / rates["sqlglot_direct"], 1),
        "reader_over_sqlglot_parse": round(rates["reader"] / rates["sqlglot_parse"], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--schemas", type=int, default=40)
    parser.add_argument("--engine", action="append", choices=["postgres", "mariadb"])
    args = parser.parse_args()
    size = CatalogSize(args.schemas, 50, 12)
    out: dict[str, Any] = {"catalog": size.tag}
    for engine in args.engine or ["postgres", "mariadb"]:
        if engine == "postgres":
            relations, views = anyio.run(_postgres, size)
            out[engine] = measure("postgres", size.database, relations, views)
        else:
            relations, views = _mariadb(size)
            out[engine] = measure("mysql", None, relations, views)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
