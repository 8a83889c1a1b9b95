"""The direct lineage path (metaingest.lineage.direct) against sqlglot's full lineage walk.

Every shape runs both ways: where the direct path answers, its edges must equal the walk's
exactly; shapes it must answer (the common ones) and shapes it must leave to the walk are
listed apart, so a regression either way fails.
"""

from __future__ import annotations

import pytest
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify

from metaingest.lineage.direct import direct_columns
from metaingest.lineage.parse import Parsed, Relation, known_relations, parse_definition, parse_view

PG = [
    Relation("pg.db.public.orders", "db", "public", "orders", ("id", "customer_id", "amount")),
    Relation("pg.db.public.customers", "db", "public", "customers", ("id", "name", "region")),
    Relation('pg.db.s2."Mixed Case"', "db", "s2", "Mixed Case", ("Key", "value")),
    Relation("pg.db.s2.orders", "db", "s2", "orders", ("id", "other")),
]

# shapes the direct path must answer (and answer as the walk does)
DIRECT = [
    "SELECT o.id, o.amount * 2 AS x FROM public.orders o",
    "SELECT orders.id, customers.name FROM public.orders JOIN public.customers"
    " ON customers.id = orders.customer_id",
    "SELECT o.id, CASE WHEN o.amount > 1 THEN c.region ELSE c.name END AS r"
    " FROM orders o LEFT JOIN customers c ON c.id = o.customer_id WHERE o.amount > 0",
    "SELECT customer_id, sum(amount) AS s, rank() OVER (PARTITION BY customer_id"
    " ORDER BY max(id)) AS k FROM orders GROUP BY customer_id",
    "SELECT id, 1 AS one FROM customers",
    "SELECT * FROM orders",
    "SELECT o.* FROM orders o",
    "SELECT count(*) AS n, count(DISTINCT o.amount) AS k FROM orders o",
    "SELECT (o.id % (10)::bigint) AS bucket, count(*) AS n FROM public.orders o"
    " GROUP BY (o.id % (10)::bigint)",
    # set operations, positional
    "SELECT id FROM orders UNION SELECT id FROM customers",
    "SELECT o.id, o.amount AS a FROM orders o UNION ALL SELECT c.id, c.name FROM customers c",
    "SELECT b.id, CASE WHEN (b.id > 10) THEN 'big'::text ELSE 'small'::text END AS size"
    " FROM public.orders b UNION ALL SELECT c.id, 'other'::text AS size FROM public.customers c",
    "SELECT id FROM orders INTERSECT SELECT id FROM customers EXCEPT SELECT id FROM s2.orders",
    "(SELECT o.id FROM orders o) UNION (SELECT c.id FROM customers c) ORDER BY 1 LIMIT 5",
    "SELECT id, amount FROM orders UNION SELECT id, NULL FROM customers UNION ALL"
    " SELECT id, other FROM s2.orders",
    # CTEs and derived tables
    "WITH w AS (SELECT * FROM orders) SELECT w.id, row_number() OVER (ORDER BY w.id) AS rn FROM w",
    "WITH w AS (SELECT o.id, o.customer_id, o.amount FROM public.orders o)"
    " SELECT w.id, row_number() OVER (ORDER BY w.amount) AS rn"
    " FROM (w JOIN public.customers x ON ((x.id = w.id)))",
    "WITH w AS (SELECT * FROM orders) SELECT * FROM w",
    "WITH w AS (SELECT id, amount * 2 AS dbl FROM orders),"
    " v AS (SELECT w.dbl + 1 AS d2, w.id FROM w) SELECT v.d2, v.id FROM v",
    "WITH u AS (SELECT id FROM orders UNION SELECT id FROM customers) SELECT u.id FROM u",
    "SELECT d.id, d.total FROM (SELECT o.id, sum(o.amount) AS total FROM orders o GROUP BY o.id) d",
    "SELECT d.id, c.name FROM (SELECT id FROM orders) AS d JOIN customers c ON c.id = d.id",
    "SELECT * FROM (SELECT id, name FROM customers) d",
    "WITH orders AS (SELECT c.id, c.name AS amount FROM customers c)"
    " SELECT orders.amount FROM orders",  # a CTE shadows a table of the same name
    "WITH w AS (SELECT o.id FROM orders o) SELECT a.id, b.id AS id2 FROM w a JOIN w b"
    " ON a.id = b.id",
    # names: quoted, mixed case, cross-schema
    'SELECT m."Key" AS k, m.value FROM s2."Mixed Case" m',
    "SELECT o.id, s.other FROM public.orders o JOIN s2.orders s ON s.id = o.id",
    "SELECT db.public.orders.id, public.orders.amount FROM public.orders",
    'WITH "W" AS (SELECT m."Key" FROM s2."Mixed Case" m) SELECT "W"."Key" FROM "W"',
]

# shapes the direct path must leave to the walk (it would have to guess, or cannot tell)
FULL = [
    "SELECT o.id FROM orders o WHERE o.id IN (SELECT id FROM customers)",
    "SELECT o.id, (SELECT max(c.name) FROM customers c WHERE c.id = o.customer_id) AS n"
    " FROM orders o",
    "SELECT id FROM orders, customers",  # ambiguous
    "SELECT id, name FROM orders JOIN customers USING (id)",
    "SELECT * FROM orders o JOIN customers c ON c.id = o.id",
    "SELECT x.a, x.b FROM orders AS x(a, b, c)",
    "WITH w(a, b) AS (SELECT id, amount FROM orders) SELECT w.a FROM w",
    "WITH RECURSIVE r AS (SELECT 1 AS n UNION ALL SELECT n + 1 FROM r WHERE n < 3)"
    " SELECT r.n FROM r",
    "SELECT g FROM generate_series(1, 3) g",
    "SELECT o.id, l.n FROM orders o, LATERAL (SELECT o.amount AS n) l",
    "SELECT w.missing FROM (SELECT id FROM orders) w",
    "SELECT id FROM orders UNION SELECT id, name FROM customers",
    "SELECT id FROM nowhere",
    "SELECT v.a FROM (VALUES (1)) v(a)",
    "SELECT o.id, o.id AS id FROM orders o",  # two outputs named alike
    "SELECT w.id FROM (SELECT o.id, c.id FROM orders o JOIN customers c ON true) w",
    "SELECT s2.orders.id FROM public.orders",  # the same name in another schema
]


def named_selects(
    sql: str, dialect: str, relations: list[Relation], catalog: str | None, db: str
) -> list[str]:
    """The view's columns as the engine would name them (sqlglot's qualify expands stars)."""
    query = parse_definition(sql, dialect)
    assert not isinstance(query, str), query
    index = known_relations(relations, dialect)
    defaults = {"catalog": catalog, "db": db} if catalog else {"db": db}
    try:
        named = qualify(
            query.copy(),
            dialect=dialect,
            schema=index.mapping_schema(catalog is not None, dialect),
            validate_qualify_columns=False,
            **defaults,
        )
    except SqlglotError:
        named = query  # an unknown column: the names as written
    assert isinstance(named, exp.Query)
    return named.named_selects


def _both(
    sql: str, dialect: str, relations: list[Relation], catalog: str | None, db: str
) -> tuple[Parsed, Parsed, bool]:
    """(direct-enabled result, full-walk result, whether the direct path answered)."""
    query = parse_definition(sql, dialect)
    assert not isinstance(query, str), query
    columns = named_selects(sql, dialect, relations, catalog, db)
    fast = parse_view(
        sql, dialect=dialect, view_columns=columns, catalog=catalog, db=db, relations=relations
    )
    walked = parse_view(
        sql, dialect=dialect, view_columns=columns, catalog=catalog, db=db,
        relations=relations, direct=False,
    )  # fmt: skip
    index = known_relations(relations, dialect)
    answered = direct_columns(query, index, catalog, db, columns) is not None
    return fast, walked, answered


# shapes either path may take: the answers must be equal
EITHER = [
    "SELECT o.amount AS name, name FROM orders o",
    "SELECT o.amount AS id2, id2 FROM orders o",
    "SELECT c.name AS region, region AS r2 FROM customers c",
    "SELECT o.id FROM orders o NATURAL JOIN customers c",
    "SELECT o.id, c.id AS cid FROM orders o JOIN customers c USING (id)",
    "SELECT id FROM orders o JOIN customers c USING (id)",
    "SELECT d.x FROM (WITH z AS (SELECT id AS x FROM orders) SELECT z.x FROM z) d",
    "WITH a AS (SELECT * FROM orders), b AS (SELECT * FROM a) SELECT b.amount FROM b",
    "SELECT u.id FROM (SELECT id FROM orders UNION SELECT id FROM customers) u",
    "SELECT * FROM (SELECT id FROM orders UNION SELECT id FROM customers) u",
    "SELECT DISTINCT ON (o.customer_id) o.id, o.amount FROM orders o"
    " ORDER BY o.customer_id, o.amount DESC",
    "SELECT o.id FROM orders o ORDER BY (SELECT 1)",
    "SELECT orders.id FROM orders o",
    "SELECT o.id FROM public.orders o, s2.orders",
    "SELECT orders.id FROM public.orders, s2.orders",
    "SELECT coalesce(o.amount, 0) AS a, o.amount::text AS t, o.amount IS NULL AS n,"
    " EXTRACT(year FROM o.amount) AS y FROM orders o",
    "SELECT array_agg(o.id ORDER BY o.amount) AS ids,"
    " string_agg(o.id::text, ',') FILTER (WHERE o.amount > 0) AS s FROM orders o",
    "SELECT o.id, sum(o.amount) OVER w AS s FROM orders o WINDOW w AS (PARTITION BY o.customer_id)",
    "SELECT ROW(o.id, o.amount) AS r FROM orders o",
    "SELECT w.id FROM (SELECT * FROM orders) w JOIN customers c ON c.id = w.id",
    "WITH w AS (SELECT o.id, o.amount AS id FROM orders o) SELECT w.id FROM w",
    "SELECT x.* FROM orders x",
    "SELECT orders.* FROM orders",
    "SELECT * FROM orders AS o",
    "SELECT o.* , 1 AS k FROM orders o",
    "SELECT *, o.id AS i2 FROM orders o",
    "WITH w AS (SELECT 1 AS one) SELECT w.one FROM w",
    "SELECT 1 AS one",
    "SELECT o.id FROM (orders o)",
    "SELECT d.id FROM ((SELECT id FROM orders)) d",
    "SELECT o.id, c.name FROM (orders o LEFT JOIN (customers c JOIN s2.orders s"
    " ON s.id = c.id) ON c.id = o.id)",
    'SELECT "Mixed Case"."Key" FROM s2."Mixed Case"',
    "SELECT orders.id FROM orders, s2.orders",
    "SELECT public.orders.id FROM orders",
    "SELECT o.id FROM orders o UNION SELECT c.id FROM customers c ORDER BY id",
    "SELECT o.customer_id AS id, o.id AS customer_id FROM orders o",
    'WITH w AS (SELECT c.id AS "ID" FROM customers c) SELECT w."ID", w."ID" AS x FROM w',
    'WITH w AS (SELECT c.id AS "ID" FROM customers c) SELECT w.id FROM w',
    "SELECT CASE o.id WHEN 1 THEN o.amount END AS a FROM orders o",
    "SELECT o.id FROM orders o WHERE EXISTS (SELECT 1)",
    "SELECT t.id FROM orders AS t JOIN orders AS u ON u.id = t.id",
    "SELECT t.id FROM orders t JOIN s2.orders t ON true",
]


@pytest.mark.parametrize("sql", DIRECT)
def test_the_direct_path_answers_what_the_walk_answers(sql: str) -> None:
    fast, walked, answered = _both(sql, "postgres", PG, "db", "public")
    assert answered
    assert walked.problems == ()
    assert fast == walked
    assert any(walked.columns.values()) or "'other'" in sql


@pytest.mark.parametrize("sql", FULL)
def test_shapes_left_to_the_walk(sql: str) -> None:
    fast, walked, answered = _both(sql, "postgres", PG, "db", "public")
    assert not answered
    assert fast == walked


@pytest.mark.parametrize("sql", EITHER)
def test_whichever_path_answers_the_answer_is_the_same(sql: str) -> None:
    fast, walked, _ = _both(sql, "postgres", PG, "db", "public")
    assert fast == walked


def test_the_printed_forms_of_postgresql() -> None:
    index = known_relations(PG, "postgres")
    sql = "SELECT o.id, c.name FROM ({}.orders o JOIN public.customers c ON ((c.id = o.id)))"
    unknown = parse_definition(sql.format("sales_x"), "postgres")
    assert not isinstance(unknown, str)
    assert direct_columns(unknown, index, "db", "public", ["id", "name"]) is None
    printed = parse_definition(sql.format("public"), "postgres")
    assert not isinstance(printed, str)
    assert direct_columns(printed, index, "db", "public", ["id", "name"]) == {
        "id": ("pg.db.public.orders.id",),
        "name": ("pg.db.public.customers.name",),
    }


def test_a_star_over_a_union_cte_and_positional_view_columns() -> None:
    sql = (
        "WITH u AS (SELECT o.id, o.amount FROM orders o"
        " UNION SELECT c.id, c.region FROM customers c) SELECT * FROM u"
    )
    out = parse_view(
        sql, dialect="postgres", view_columns=["x", "y"], catalog="db", db="public", relations=PG
    )
    assert out.columns == {
        "x": ("pg.db.public.customers.id", "pg.db.public.orders.id"),
        "y": ("pg.db.public.customers.region", "pg.db.public.orders.amount"),
    }
    walked = parse_view(
        sql, dialect="postgres", view_columns=["x", "y"], catalog="db", db="public",
        relations=PG, direct=False,
    )  # fmt: skip
    assert out == walked


MYSQL = [
    Relation("m.default.shop.t", None, "shop", "t", ("a", "B")),
    Relation("m.default.other.u", None, "other", "u", ("x", "a")),
]
MYSQL_SHAPES = [
    "select `shop`.`t`.`a` AS `a`,`shop`.`t`.`B` AS `b`,`u`.`x` AS `x` "
    "from (`shop`.`t` join `other`.`u`)",
    "select `t`.`a` AS `a` from `shop`.`t` union all select `u`.`x` AS `x` from `other`.`u`",
    "with `w` as (select `shop`.`t`.`a` AS `a` from `shop`.`t`) select `w`.`a` AS `a`,"
    " row_number() OVER (ORDER BY `w`.`a` )  AS `rn` from `w`",
    "select `d`.`a` AS `a` from (select `u`.`a` AS `a` from `other`.`u`) `d`",
]


@pytest.mark.parametrize("sql", MYSQL_SHAPES)
def test_mysql_printed_shapes(sql: str) -> None:
    fast, walked, answered = _both(sql, "mysql", MYSQL, None, "shop")
    assert answered and walked.problems == () and fast == walked


LITE = [
    Relation("l.lite.main.Items", "lite", "main", "Items", ("Id", "label")),
    Relation("l.lite.aux.extra", "lite", "aux", "extra", ("id", "LABEL")),
]
LITE_SHAPES = [
    'SELECT i.ID, "LABEL", 1 AS one FROM items i',
    "SELECT * FROM Items",
    "WITH w AS (SELECT * FROM aux.Extra) SELECT W.Label FROM w",
    "SELECT id FROM items UNION SELECT ID FROM aux.extra",
]


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
@pytest.mark.parametrize("sql", LITE_SHAPES)
def test_case_insensitive_engines(sql: str, dialect: str) -> None:
    catalog = "lite" if dialect == "duckdb" else None
    relations = [Relation(r.fqn, catalog, r.db, r.name, r.columns) for r in LITE]
    fast, walked, answered = _both(sql, dialect, relations, catalog, "main")
    assert answered and walked.problems == () and fast == walked
