"""View lineage on the real servers and files: expected table and column edges, by hand.

Each engine gets views of the shapes users write (joins, aliases, ``*``, expressions, CASE,
aggregates, windows, CTEs, scalar subqueries, UNION, views over views, cross-schema and
quoted mixed-case names, materialized views where the engine has them). On PostgreSQL every
parsed edge must also lie inside the server's own dependency records. Every run is checked
twice: with the direct path and with sqlglot's lineage walk alone, which must agree.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from benchmarks.catalog import CatalogSize, ddl_for_schema
from benchmarks.lineage import DEPENDS
from metaingest.config import parse_config
from metaingest.connectors.sql import queries
from metaingest.entities import Table
from metaingest.lineage import parse
from metaingest.report import Issue
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, quote_mysql
from .faultkit import pg_execute, pg_side
from .openmetadata import validation_errors, with_ids

pytestmark = pytest.mark.anyio

Edges = dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]]


async def _run(source: dict[str, Any], out: Path) -> tuple[dict[str, Table], list[Issue]]:
    """The views with lineage, and the run's issues. The run is made twice: the second time
    with the fast reader and the direct path off (every view parsed by sqlglot and through
    its lineage walk), and the two must agree on every view's lineage and every issue."""
    views, issues = await _stream(source, out)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(parse, "read_fast", lambda *args: None)
        patch.setattr(parse, "direct_columns", lambda *args: None)
        walked, walked_issues = await _stream(source, out)
    assert {f: v.lineage for f, v in views.items()} == {f: v.lineage for f, v in walked.items()}
    assert issues == walked_issues
    return views, issues


async def _stream(source: dict[str, Any], out: Path) -> tuple[dict[str, Table], list[Issue]]:
    source = {"include_lineage": True, **source}
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out)}})
    views: dict[str, Table] = {}
    issues: list[Issue] = []
    async with Workflow(config).stream() as batches:
        async for batch in batches:
            issues.extend(batch.issues)
            views.update({t.fqn: t for t in batch.tables if t.lineage is not None})
    return views, issues


def _edges(views: dict[str, Table], prefix: str) -> Edges:
    """{view: (upstream, {column: upstream columns})} with ``prefix`` cut from every FQN."""

    def cut(fqn: str) -> str:
        assert fqn.startswith(prefix), fqn
        return fqn[len(prefix) :]

    out: Edges = {}
    for fqn, table in views.items():
        assert table.lineage is not None
        columns = {c.column: tuple(cut(u) for u in c.upstream) for c in table.lineage.columns}
        out[cut(fqn)] = (tuple(cut(u) for u in table.lineage.upstream), columns)
    return out


PG_DDL = """
CREATE SCHEMA sales;
CREATE SCHEMA "Mixed Schema";
CREATE TABLE sales.orders (id int PRIMARY KEY, customer_id int, amount numeric, placed date);
CREATE TABLE sales.customers (id int PRIMARY KEY, name text, region text);
CREATE TABLE "Mixed Schema"."Items" ("ItemId" int, "Label" text);
CREATE VIEW sales.order_names AS
  SELECT o.id AS order_id, c.name AS customer
  FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id;
CREATE VIEW sales.all_orders AS SELECT * FROM sales.orders;
CREATE VIEW sales.flags AS
  SELECT o.id, o.amount * 1.2 AS gross,
         CASE WHEN o.amount > 100 THEN 'big' ELSE c.region END AS bucket
  FROM sales.orders o JOIN sales.customers c ON c.id = o.customer_id;
CREATE VIEW sales.totals AS
  SELECT customer_id, sum(amount) AS total, rank() OVER (ORDER BY sum(amount) DESC) AS rnk
  FROM sales.orders GROUP BY customer_id;
CREATE VIEW sales.best AS
  WITH t AS (SELECT customer_id, max(amount) AS best FROM sales.orders GROUP BY customer_id)
  SELECT t.customer_id, t.best,
         (SELECT c.name FROM sales.customers c WHERE c.id = t.customer_id) AS name
  FROM t;
CREATE VIEW sales.ids AS SELECT id FROM sales.orders UNION SELECT id FROM sales.customers;
CREATE VIEW sales.names_upper AS
  SELECT order_id, upper(customer) AS customer FROM sales.order_names;
CREATE VIEW sales.items AS SELECT i."ItemId" AS item, i."Label" FROM "Mixed Schema"."Items" i;
CREATE MATERIALIZED VIEW sales.daily AS
  SELECT placed, count(*) AS n, sum(amount) AS amount FROM sales.orders GROUP BY placed;
CREATE VIEW "Mixed Schema"."Recent" AS
  SELECT o.id, o.placed FROM sales.orders o WHERE o.placed > DATE '2020-01-01';
CREATE VIEW sales.constant AS SELECT 1 AS one;
"""

ORD, C = "sales.orders", "sales.customers"
ITEMS = "Mixed Schema.Items"  # a part is quoted only when it holds a dot

EXPECTED_PG: Edges = {
    "sales.order_names": ((C, ORD), {"order_id": (f"{ORD}.id",), "customer": (f"{C}.name",)}),
    "sales.all_orders": (
        (ORD,),
        {c: (f"{ORD}.{c}",) for c in ("id", "customer_id", "amount", "placed")},
    ),
    "sales.flags": (
        (C, ORD),
        {
            "id": (f"{ORD}.id",),
            "gross": (f"{ORD}.amount",),
            "bucket": (f"{C}.region", f"{ORD}.amount"),
        },
    ),
    "sales.totals": (
        (ORD,),
        {
            "customer_id": (f"{ORD}.customer_id",),
            "total": (f"{ORD}.amount",),
            "rnk": (f"{ORD}.amount",),
        },
    ),
    "sales.best": (
        (C, ORD),
        {
            "customer_id": (f"{ORD}.customer_id",),
            "best": (f"{ORD}.amount",),
            "name": (f"{C}.name",),
        },
    ),
    "sales.ids": ((C, ORD), {"id": (f"{C}.id", f"{ORD}.id")}),
    "sales.names_upper": (
        ("sales.order_names",),
        {"order_id": ("sales.order_names.order_id",), "customer": ("sales.order_names.customer",)},
    ),
    "sales.items": ((ITEMS,), {"item": (f"{ITEMS}.ItemId",), "Label": (f"{ITEMS}.Label",)}),
    "sales.daily": (
        (ORD,),
        {"placed": (f"{ORD}.placed",), "n": (), "amount": (f"{ORD}.amount",)},
    ),
    "Mixed Schema.Recent": ((ORD,), {"id": (f"{ORD}.id",), "placed": (f"{ORD}.placed",)}),
    "sales.constant": ((), {"one": ()}),
}


@pytest.mark.postgres
async def test_postgres_lineage_by_hand(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    await pg_execute(postgres_server, pg_database, PG_DDL)
    source = postgres_server.source(pg_database, schema_filter={"excludes": ["^pg_", "^infor"]})
    views, issues = await _run(source, tmp_path / "o.jsonl")
    assert _edges(views, f"pg.{pg_database}.") == EXPECTED_PG
    # every parsed edge is inside the server's dependency records: no edge was dropped
    assert [i for i in issues if "lineage" in i.message] == []
    assert {v.lineage.source for v in views.values() if v.lineage} == {"catalog+parsed"}


@pytest.mark.postgres
async def test_postgres_parsed_edges_stay_inside_the_dependency_records(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    """A parser that resolves a name to the wrong relation is caught by the records."""
    await pg_execute(
        postgres_server,
        pg_database,
        "CREATE SCHEMA s2; CREATE TABLE public.t (a int); CREATE TABLE s2.t (a int);"
        "CREATE VIEW s2.v AS SELECT a FROM public.t;",
    )
    source = postgres_server.source(pg_database, schema_filter={"includes": ["^s2$"]})
    views, _ = await _run(source, tmp_path / "o.jsonl")
    lineage = views[f"pg.{pg_database}.s2.v"].lineage
    assert lineage is not None
    assert lineage.upstream == (f"pg.{pg_database}.public.t",)  # the records' truth
    for column in lineage.columns:  # any parsed edge left is one the records confirm
        assert all(edge.startswith(f"pg.{pg_database}.public.t.") for edge in column.upstream)


@pytest.mark.postgres
async def test_benchmark_view_shapes_stay_inside_the_dependency_records(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    """The benchmark catalog's seven view shapes (joins, aggregate, CASE + UNION ALL, CTE +
    window over a view across schemas, materialized view), three schemas of them: no lineage
    problem, direct path and walk agree (``_run``), every parsed edge in ``pg_depend``."""
    size = CatalogSize(3, 8, 6)
    script = ";\n".join(s for i in range(3) for s in ddl_for_schema("postgres", size, i))
    await pg_execute(postgres_server, pg_database, script)
    source = postgres_server.source(pg_database, schema_filter={"includes": ["^mi_bench_s"]})
    # the columns of what views read in other schemas come with the dependency records: the
    # query that would fetch them is never sent (if it were, it would fail the run)
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(queries("postgres"), "relation_columns", "SELECT no_such_column")
        views, issues = await _run(source, tmp_path / "o.jsonl")
    assert [i for i in issues if "lineage" in i.message] == []
    assert len(views) == 3 * 7
    async with pg_side(postgres_server, pg_database) as conn:
        rows = await conn.fetch(DEPENDS)
    recorded: dict[str, set[str]] = {}
    for row in rows:
        view = f"pg.{pg_database}.{row['view_schema']}.{row['view_name']}"
        ref = f"pg.{pg_database}.{row['ref_schema']}.{row['ref_name']}.{row['ref_column']}"
        recorded.setdefault(view, set()).add(ref)
    for fqn, view in views.items():
        assert view.lineage is not None
        parsed = {edge for column in view.lineage.columns for edge in column.upstream}
        assert parsed and parsed <= recorded[fqn], fqn
    union = views[f"pg.{pg_database}.mi_bench_s0001.v_union"].lineage
    assert union is not None
    ids = next(c.upstream for c in union.columns if c.column == "id")
    assert len(ids) == 2  # one column from each branch


def _maria_ddl(a: str, b: str) -> list[str]:
    qa, qb = quote_mysql(a), quote_mysql(b)
    return [
        f"CREATE TABLE {qa}.orders (id INT PRIMARY KEY, customer_id INT, amount DECIMAL(9,2))",
        f"CREATE TABLE {qb}.`Customers` (id INT PRIMARY KEY, `Name` TEXT, region TEXT)",
        f"CREATE VIEW {qa}.joined AS SELECT o.id AS order_id, c.`Name` AS customer "
        f"FROM {qa}.orders o JOIN {qb}.`Customers` c ON c.id = o.customer_id",
        f"CREATE VIEW {qa}.star AS SELECT * FROM {qa}.orders",
        f"CREATE VIEW {qa}.cased AS SELECT id, CASE WHEN amount > 10 THEN amount ELSE 0 END "
        f"AS big FROM {qa}.orders",
        f"CREATE VIEW {qa}.agg AS SELECT customer_id, sum(amount) AS total, "
        f"row_number() OVER (ORDER BY customer_id) AS rn FROM {qa}.orders GROUP BY customer_id",
        f"CREATE VIEW {qa}.cte AS WITH t AS (SELECT id, amount FROM {qa}.orders) "
        "SELECT t.id, t.amount AS amt FROM t",
        f"CREATE VIEW {qa}.ids AS SELECT id FROM {qa}.orders UNION SELECT id FROM {qb}.`Customers`",
        f"CREATE VIEW {qa}.over AS SELECT order_id, customer FROM {qa}.joined",
    ]


@pytest.mark.mysql
async def test_mariadb_lineage_by_hand(mysql_server: MysqlServer, tmp_path: Path) -> None:
    a, b = mysql_server.create_schemas(2)
    try:
        mysql_server.run(*_maria_ddl(a, b))
        source = mysql_server.source(schema_filter={"includes": [f"^{a}$", f"^{b}$"]})
        views, issues = await _run(source, tmp_path / "o.jsonl")
    finally:
        mysql_server.drop_schemas([a, b])
    orders, customers = f"{a}.orders", f"{b}.Customers"
    assert [i for i in issues if "lineage" in i.message] == []
    assert _edges(views, "maria.default.") == {
        f"{a}.joined": (
            (orders, customers),
            {"order_id": (f"{orders}.id",), "customer": (f"{customers}.Name",)},
        ),
        f"{a}.star": (
            (orders,),
            {c: (f"{orders}.{c}",) for c in ("id", "customer_id", "amount")},
        ),
        f"{a}.cased": ((orders,), {"id": (f"{orders}.id",), "big": (f"{orders}.amount",)}),
        f"{a}.agg": (
            (orders,),
            {
                "customer_id": (f"{orders}.customer_id",),
                "total": (f"{orders}.amount",),
                "rn": (f"{orders}.customer_id",),
            },
        ),
        f"{a}.cte": ((orders,), {"id": (f"{orders}.id",), "amt": (f"{orders}.amount",)}),
        f"{a}.ids": ((orders, customers), {"id": (f"{orders}.id", f"{customers}.id")}),
        f"{a}.over": (
            (f"{a}.joined",),
            {"order_id": (f"{a}.joined.order_id",), "customer": (f"{a}.joined.customer",)},
        ),
    }


SQLITE_DDL = """
CREATE TABLE Orders (Id INTEGER PRIMARY KEY, amount REAL, customer TEXT);
CREATE VIEW "Big Orders" AS SELECT o.id, o.AMOUNT * 2 AS doubled FROM orders o WHERE amount > 1;
CREATE VIEW star AS SELECT * FROM Orders;
CREATE VIEW ranked AS SELECT customer, sum(amount) AS total,
  rank() OVER (ORDER BY sum(amount)) AS r FROM Orders GROUP BY customer;
CREATE VIEW over_view AS SELECT doubled FROM "Big Orders";
CREATE VIEW unioned AS WITH x AS (SELECT id FROM orders) SELECT id FROM x UNION SELECT 0;
"""


async def test_sqlite_lineage_by_hand(tmp_path: Path) -> None:
    db = tmp_path / "lite.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(SQLITE_DDL)
    conn.close()
    source = {"type": "sqlite", "path": str(db), "service_name": "lite"}
    views, issues = await _run(source, tmp_path / "o.jsonl")
    assert [i for i in issues if "lineage" in i.message] == []
    orders = "main.Orders"
    assert _edges(views, "lite.lite.") == {
        "main.Big Orders": (
            (orders,),
            {"Id": (f"{orders}.Id",), "doubled": (f"{orders}.amount",)},
        ),
        "main.star": ((orders,), {c: (f"{orders}.{c}",) for c in ("Id", "amount", "customer")}),
        "main.ranked": (
            (orders,),
            {
                "customer": (f"{orders}.customer",),
                "total": (f"{orders}.amount",),
                "r": (f"{orders}.amount",),
            },
        ),
        "main.over_view": (("main.Big Orders",), {"doubled": ("main.Big Orders.doubled",)}),
        "main.unioned": ((orders,), {"id": (f"{orders}.Id",)}),
    }


async def test_duckdb_lineage_across_schemas(tmp_path: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "w.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute(
        "CREATE SCHEMA s2; CREATE TABLE main.t (a INT, b VARCHAR);"
        "CREATE TABLE s2.u (a INT, x INT);"
        "CREATE VIEW main.v AS SELECT t.a, u.x, upper(t.b) AS ub FROM t JOIN s2.u ON u.a = t.a;"
        "CREATE VIEW s2.w AS SELECT * FROM main.t"
    )
    conn.close()
    source = {"type": "sqlalchemy", "url": f"duckdb:///{path}", "service_name": "duck"}
    views, issues = await _run(source, tmp_path / "o.jsonl")
    assert [i for i in issues if "lineage" in i.message] == []
    assert _edges(views, "duck.w.") == {
        "main.v": (
            ("main.t", "s2.u"),
            {"a": ("main.t.a",), "x": ("s2.u.x",), "ub": ("main.t.b",)},
        ),
        "s2.w": (("main.t",), {"a": ("main.t.a",), "b": ("main.t.b",)}),
    }


async def test_unknown_relations_are_warnings_never_guessed_edges(tmp_path: Path) -> None:
    main, other = tmp_path / "main.db", tmp_path / "other.db"
    with sqlite3.connect(main) as conn:
        conn.executescript(
            "CREATE TABLE t (a INT); CREATE TABLE gone (z INT);"
            "CREATE VIEW v AS SELECT t.a, g.z FROM t JOIN gone g ON 1;"
        )
        conn.execute("DROP TABLE gone")  # the view now reads a relation that does not exist
    conn.close()
    sqlite3.connect(other).close()
    source = {"type": "sqlite", "path": str(main), "service_name": "s", "attach": {"o": str(other)}}
    views, issues = await _run(source, tmp_path / "o.jsonl")
    # SQLite cannot read the broken view's columns: it is reported, not delivered
    assert any(i.fqn == "s.main.main.v" for i in issues)
    assert views == {}


async def test_openmetadata_lines_carry_lineage_requests(tmp_path: Path) -> None:
    db = tmp_path / "lite.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(SQLITE_DDL)
    conn.close()
    out = tmp_path / "om.jsonl"
    config = parse_config(
        {
            "source": {
                "type": "sqlite",
                "path": str(db),
                "service_name": "lite",
                "include_lineage": True,
            },
            "sink": {"type": "jsonl", "path": str(out), "format": "openmetadata"},
        }
    )
    report = await Workflow(config).run()
    assert report.ok
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    requests = [line for line in lines if line["kind"] == "lineage"]
    assert {line["fqn"] for line in requests} == {
        "lite.lite.main.Big Orders",
        "lite.lite.main.star",
        "lite.lite.main.ranked",
        "lite.lite.main.over_view",
        "lite.lite.main.unioned",
    }
    for line in requests:
        edge = line["request"]["edge"]
        assert edge["toEntity"]["fullyQualifiedName"] == line["fqn"]
        # with the ids a server would resolve, each request is a valid AddLineageRequest
        assert validation_errors("lineage", with_ids(line["request"])) == []
