"""The physical-limit reference: read a catalog with a few bulk queries on ONE connection.

No framework, no models, no concurrency: a handful of catalog queries over every matching schema at
once, joined in dicts and written as JSON lines (one line per schema, table and routine). It
reads what metaingest reads in the sweep's configuration (owners and stored procedures on:
routines with their definitions, owners and DEFINERs), so the ratio compares like with like. This is
what merely reading the catalog costs on this machine; the sweep reports metaingest's wall
time as a ratio to it, measured in the same run.

    python -m benchmarks.reference --engine postgres --database mi_bench_40x50x12 \
        --schema-regex '^mi_bench_s[0-9]{4}$' --out /tmp/ref.jsonl

``--database a,b,c`` reads several databases one after another (PostgreSQL connects to one
database at a time: a connection per database, each closed before the next opens).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from collections import defaultdict
from typing import Any

__all__ = ["read_mariadb", "read_postgres", "write_jsonl"]

PG_QUERIES = {
    "schemas": """
        SELECT n.oid, n.nspname, obj_description(n.oid, 'pg_namespace') AS comment
        FROM pg_namespace n WHERE n.nspname ~ $1""",
    "relations": """
        SELECT c.oid, n.nspname, c.relname, c.relkind::text, c.relispartition,
               obj_description(c.oid, 'pg_class') AS comment,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END AS definition,
               CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
               (SELECT i.inhparent::regclass::text FROM pg_inherits i
                 WHERE i.inhrelid = c.oid) AS parent,
               pg_get_userbyid(c.relowner) AS owner
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname ~ $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""",
    "columns": """
        SELECT a.attrelid, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod) AS type,
               a.attnotnull, pg_get_expr(d.adbin, d.adrelid) AS default_value,
               col_description(a.attrelid, a.attnum) AS comment
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname ~ $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    "constraints": """
        SELECT con.conrelid, con.conname, con.contype::text,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.n
                     ORDER BY k.i) AS columns,
               con.confrelid::regclass::text AS referred_table,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k(n, i)
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.n
                     ORDER BY k.i) AS referred_columns
        FROM pg_constraint con JOIN pg_namespace n ON n.oid = con.connamespace
        WHERE n.nspname ~ $1 AND con.contype IN ('p', 'u', 'f') AND con.conrelid <> 0""",
    # what metaingest reads with include_stored_procedures and include_owners on
    "routines": """
        SELECT n.nspname, p.proname, p.prokind::text, l.lanname,
               pg_get_function_identity_arguments(p.oid) AS arguments,
               pg_get_function_result(p.oid) AS result, p.provolatile::text,
               pg_get_functiondef(p.oid) AS definition, pg_get_userbyid(p.proowner) AS owner,
               obj_description(p.oid, 'pg_proc') AS comment
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        JOIN pg_language l ON l.oid = p.prolang
        WHERE n.nspname ~ $1 AND p.prokind IN ('f', 'p')""",
}

MARIA_QUERIES = {
    "schemas": """
        SELECT schema_name FROM information_schema.schemata WHERE schema_name REGEXP %s""",
    "relations": """
        SELECT table_schema, table_name, table_type, table_comment
        FROM information_schema.tables WHERE table_schema IN ({in_list})""",
    "columns": """
        SELECT table_schema, table_name, column_name, ordinal_position, column_type,
               is_nullable, column_default, column_comment
        FROM information_schema.columns WHERE table_schema IN ({in_list})""",
    "constraint_types": """
        SELECT table_schema, table_name, constraint_name, constraint_type
        FROM information_schema.table_constraints WHERE table_schema IN ({in_list})""",
    # joined in Python: a join of two information_schema views rescans one per row (~40x)
    "key_columns": """
        SELECT table_schema, table_name, constraint_name, column_name, ordinal_position,
               referenced_table_schema, referenced_table_name, referenced_column_name
        FROM information_schema.key_column_usage WHERE table_schema IN ({in_list})""",
    "views": """
        SELECT table_schema, table_name, view_definition, definer
        FROM information_schema.views WHERE table_schema IN ({in_list})""",
    # what metaingest reads with include_stored_procedures and include_owners on
    "routines": """
        SELECT routine_schema, routine_name, routine_type, data_type, routine_definition,
               definer, sql_data_access, routine_comment
        FROM information_schema.routines WHERE routine_schema IN ({in_list})""",
    "parameters": """
        SELECT specific_schema, specific_name, ordinal_position, parameter_mode,
               parameter_name, dtd_identifier
        FROM information_schema.parameters WHERE specific_schema IN ({in_list})""",
}


async def read_postgres(
    host: str, port: int, user: str, database: str, regex: str, app: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Schemas and tables (with columns and constraints) of the matching schemas."""
    import asyncpg

    conn = await asyncpg.connect(
        host=host, port=port, user=user, database=database, timeout=10,
        server_settings={"application_name": app},
    )  # fmt: skip
    try:
        rows = {name: await conn.fetch(sql, regex) for name, sql in PG_QUERIES.items()}
    finally:
        await conn.close()
    schemas = [
        {"kind": "databaseSchema", "name": r["nspname"], "comment": r["comment"]}
        for r in rows["schemas"]
    ]
    tables: dict[int, dict[str, Any]] = {}
    for r in rows["relations"]:
        table = dict(r)
        table.update(kind="table", schema=table.pop("nspname"), columns=[], constraints=[])
        tables[table.pop("oid")] = table
    for r in rows["columns"]:
        column = dict(r)
        tables[column.pop("attrelid")]["columns"].append(column)
    for r in rows["constraints"]:
        constraint = dict(r)
        owner = tables.get(constraint.pop("conrelid"))
        if owner is not None:
            owner["constraints"].append(constraint)
    for table in tables.values():
        table["columns"].sort(key=lambda c: c["attnum"])
    routines = [
        {"kind": "storedProcedure", "schema": r["nspname"], **dict(r)} for r in rows["routines"]
    ]
    return schemas, [*tables.values(), *routines]


async def read_mariadb(
    host: str, port: int, user: str, regex: str, app: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Schemas and tables (with columns and constraints) of the matching schemas."""
    import aiomysql

    conn = await aiomysql.connect(
        host=host, port=port, user=user, password="", connect_timeout=10,
        program_name=app, autocommit=True,
    )  # fmt: skip
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        async with conn.cursor(aiomysql.DictCursor) as cur:
            names: list[str] = []
            for name, sql in MARIA_QUERIES.items():
                # information_schema reads only the schemas named: list them, then IN (...)
                params = names or [regex]
                await cur.execute(sql.format(in_list=", ".join(["%s"] * len(names))), params)
                rows[name] = [{k.lower(): v for k, v in r.items()} for r in await cur.fetchall()]
                names = names or [r["schema_name"] for r in rows["schemas"]] or [""]
    finally:
        conn.close()
    schemas = [{"kind": "databaseSchema", "name": r["schema_name"]} for r in rows["schemas"]]
    tables: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows["relations"]:
        key = (r["table_schema"], r["table_name"])
        tables[key] = {"kind": "table", **r, "columns": [], "constraints": {}}
    for r in rows["columns"]:
        tables[(r["table_schema"], r["table_name"])]["columns"].append(r)
    for r in rows["constraint_types"]:
        cons = tables[(r["table_schema"], r["table_name"])]["constraints"]
        cons[r["constraint_name"]] = {"type": r["constraint_type"], "keys": []}
    for r in rows["key_columns"]:
        cons = tables[(r["table_schema"], r["table_name"])]["constraints"]
        cons.setdefault(r["constraint_name"], {"type": None, "keys": []})["keys"].append(r)
    for r in rows["views"]:
        tables[(r["table_schema"], r["table_name"])]["definition"] = r["view_definition"]
    for table in tables.values():
        table["columns"].sort(key=lambda c: c["ordinal_position"])
    parameters: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows["parameters"]:
        parameters[(r["specific_schema"], r["specific_name"])].append(r)
    routines = [
        {
            "kind": "storedProcedure",
            "table_schema": r["routine_schema"],
            "table_name": r["routine_name"],
            **r,
            "parameters": parameters[(r["routine_schema"], r["routine_name"])],
        }
        for r in rows["routines"]
    ]
    return schemas, [*tables.values(), *routines]


def write_jsonl(path: str, schemas: list[dict[str, Any]], tables: list[dict[str, Any]]) -> int:
    """Write schemas then tables, grouped by schema, atomically; return the lines written."""
    by_schema: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for table in tables:
        by_schema[table.get("schema") or table.get("table_schema")].append(table)
    tmp = f"{path}.tmp"
    lines = 0
    with open(tmp, "w", encoding="utf-8") as out:
        for schema in sorted(schemas, key=lambda s: s["name"]):
            out.write(json.dumps(schema, ensure_ascii=False, default=str) + "\n")
            for table in sorted(
                by_schema[schema["name"]],
                key=lambda t: str(t.get("relname") or t.get("table_name")),
            ):
                out.write(json.dumps(table, ensure_ascii=False, default=str) + "\n")
                lines += 1
            lines += 1
    os.replace(tmp, path)
    return lines


async def run(args: argparse.Namespace) -> int:
    """Read and write once; return the number of relations and routines written."""
    if args.engine == "postgres":
        # a database per tenant: one database after another (a connection reads one database)
        schemas, tables = [], []
        for database in args.database.split(","):
            got = await read_postgres(
                args.host, args.port, args.user or "postgres", database, args.schema_regex,
                args.app_name,
            )  # fmt: skip
            for schema in got[0]:
                schema["name"] = f"{database}.{schema['name']}"
            for table in got[1]:
                table["schema"] = f"{database}.{table['schema']}"
            schemas += got[0]
            tables += got[1]
    else:
        schemas, tables = await read_mariadb(
            args.host, args.port, args.user or "root", args.schema_regex, args.app_name
        )
    write_jsonl(args.out, schemas, tables)
    return len(tables)


def main(argv: list[str] | None = None) -> None:
    """Command line: read one catalog, print how many tables and views it had."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.reference")
    parser.add_argument("--engine", choices=("postgres", "mariadb"), default="postgres")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--user")
    parser.add_argument("--database", default="mi_bench_40x50x12")
    parser.add_argument("--schema-regex", default="^mi_bench_")
    parser.add_argument("--app-name", default="mi_bench_reference")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if not args.host.startswith("127."):
        parser.error("loopback only")
    args.port = args.port or (5432 if args.engine == "postgres" else 3306)
    print(asyncio.run(run(args)), "tables and views")


if __name__ == "__main__":
    main()
