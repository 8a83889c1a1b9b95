"""Parsing a view definition into lineage edges (metaingest.lineage.parse), by hand-written
expectations for every shape users write, on each dialect."""

from __future__ import annotations

import pytest

from metaingest.lineage.parse import (
    Parsed,
    Relation,
    parse_definition,
    parse_view,
    referenced_relations,
)

PG = [
    Relation("pg.db.public.orders", "db", "public", "orders", ("id", "customer_id", "amount")),
    Relation("pg.db.public.customers", "db", "public", "customers", ("id", "name", "region")),
    Relation('pg.db.s2."Mixed Case"', "db", "s2", "Mixed Case", ("Key", "value")),
]
ORD, C, M = "pg.db.public.orders", "pg.db.public.customers", 'pg.db.s2."Mixed Case"'


def pg(sql: str, *columns: str) -> Parsed:
    return parse_view(
        sql, dialect="postgres", view_columns=columns, catalog="db", db="public", relations=PG
    )


def test_join_with_aliases_expressions_case_and_a_constant() -> None:
    out = pg(
        "SELECT o.id, c.name AS customer, o.amount * 2 AS doubled,"
        " CASE WHEN c.region = 'EU' THEN o.amount ELSE 0 END AS eu_amount, 1 AS one"
        " FROM public.orders o JOIN public.customers c ON c.id = o.customer_id",
        "id", "customer", "doubled", "eu_amount", "one",
    )  # fmt: skip
    assert out.problems == ()
    assert out.upstream == (C, ORD)
    assert out.columns == {
        "id": (f"{ORD}.id",),
        "customer": (f"{C}.name",),
        "doubled": (f"{ORD}.amount",),
        "eu_amount": (f"{C}.region", f"{ORD}.amount"),
        "one": (),
    }


def test_star_expands_to_the_real_columns() -> None:
    out = pg("SELECT * FROM orders", "id", "customer_id", "amount")
    assert out.columns == {c: (f"{ORD}.{c}",) for c in ("id", "customer_id", "amount")}


def test_aggregates_windows_ctes_and_subqueries() -> None:
    out = pg(
        "WITH totals AS (SELECT customer_id, sum(amount) AS total FROM orders GROUP BY 1)"
        " SELECT t.customer_id, t.total,"
        " rank() OVER (ORDER BY t.total DESC) AS rnk,"
        " (SELECT max(c.name) FROM customers c WHERE c.id = t.customer_id) AS name"
        " FROM totals t",
        "customer_id", "total", "rnk", "name",
    )  # fmt: skip
    assert out.problems == ()
    assert out.upstream == (C, ORD)
    assert out.columns["customer_id"] == (f"{ORD}.customer_id",)
    assert out.columns["total"] == (f"{ORD}.amount",)
    assert out.columns["rnk"] == (f"{ORD}.amount",)
    assert f"{C}.name" in out.columns["name"]


def test_union_feeds_each_column_from_both_sides() -> None:
    out = pg("SELECT id FROM orders UNION ALL SELECT id FROM customers", "id")
    assert out.columns == {"id": (f"{C}.id", f"{ORD}.id")}


def test_quoted_mixed_case_and_cross_schema_names() -> None:
    out = pg('SELECT m."Key" AS k, m.value FROM s2."Mixed Case" m', "k", "value")
    assert out.upstream == (M,)
    assert out.columns == {"k": (f"{M}.Key",), "value": (f"{M}.value",)}
    # unquoted names fold to lower case in PostgreSQL: "mixed case" is another relation
    folded = pg('SELECT "Key" FROM s2.mixed_case', "Key")
    assert folded.upstream == () and folded.columns == {}


def test_a_view_renaming_its_columns_maps_by_position() -> None:
    out = pg("CREATE VIEW v (a, b) AS SELECT id, name FROM customers", "a", "b")
    assert out.columns == {"a": (f"{C}.id",), "b": (f"{C}.name",)}


def test_an_unknown_relation_gives_no_column_edges_and_says_why() -> None:
    out = pg("SELECT o.id, x.y FROM orders o JOIN elsewhere.t x ON true", "id", "y")
    assert out.upstream == (ORD,)  # the known relation is still upstream
    assert out.columns == {}
    assert any("unknown relation elsewhere.t" in p for p in out.problems)


def test_an_ambiguous_column_is_reported_never_guessed() -> None:
    out = pg("SELECT id FROM orders, customers", "id")
    assert out.columns == {"id": ()}
    assert out.problems and "cannot resolve" in out.problems[0]


def test_a_definition_that_does_not_parse() -> None:
    out = pg("SELECT FROM WHERE (", "a")
    assert out.upstream == () and out.columns == {}
    assert out.problems[0].startswith("cannot parse the view definition")


def test_mysql_definitions_as_the_server_prints_them() -> None:
    relations = [
        Relation("m.default.shop.t", None, "shop", "t", ("a", "B")),
        Relation("m.default.other.u", None, "other", "u", ("x",)),
    ]
    out = parse_view(
        "select `shop`.`t`.`a` AS `a`,`shop`.`t`.`B` AS `b`,`u`.`x` AS `x` "
        "from (`shop`.`t` join `other`.`u`)",
        dialect="mysql",
        view_columns=["a", "b", "x"],
        catalog=None,
        db="shop",
        relations=relations,
    )
    assert out.problems == ()
    assert out.upstream == ("m.default.other.u", "m.default.shop.t")
    assert out.columns == {
        "a": ("m.default.shop.t.a",),
        "b": ("m.default.shop.t.B",),
        "x": ("m.default.other.u.x",),
    }


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_case_insensitive_engines_fold_names(dialect: str) -> None:
    catalog = "lite" if dialect == "duckdb" else None
    relations = [
        Relation("l.lite.main.Items", catalog, "main", "Items", ("Id", "label")),
        Relation("l.lite.aux.extra", catalog, "aux", "extra", ("id",)),
    ]
    out = parse_view(
        'CREATE VIEW v AS SELECT i.ID, "LABEL", e.id AS eid FROM items i JOIN aux.EXTRA e '
        "ON e.id = i.id",
        dialect=dialect,
        view_columns=["Id", "label", "eid"],
        catalog=catalog,
        db="main",
        relations=relations,
    )
    assert out.problems == ()
    assert out.columns == {
        "Id": ("l.lite.main.Items.Id",),
        "label": ("l.lite.main.Items.label",),
        "eid": ("l.lite.aux.extra.id",),
    }


def test_referenced_relations_skips_ctes() -> None:
    sql = "WITH c AS (SELECT 1 AS one FROM s.base) SELECT * FROM c JOIN t ON true"
    assert sorted(referenced_relations(sql, "postgres")) == [("", "", "t"), ("", "s", "base")]
    assert referenced_relations("not sql at all (", "postgres") == []


def test_columns_qualified_by_a_mixed_case_table_name() -> None:
    """pg_get_viewdef qualifies columns with the table's own name: "Straße"."größe"."""
    relations = [Relation('pg.db."ü.x".Straße', "db", "ü.x", "Straße", ("größe", "Name"))]
    out = parse_view(
        'SELECT "Straße"."größe", "Straße"."Name" AS n FROM "ü.x"."Straße"',
        dialect="postgres",
        view_columns=["größe", "n"],
        catalog="db",
        db="ü.x",
        relations=relations,
    )
    assert out.problems == ()
    assert out.columns == {
        "größe": ('pg.db."ü.x".Straße.größe',),
        "n": ('pg.db."ü.x".Straße.Name',),
    }


@pytest.mark.parametrize(
    ("sql", "dialect"),
    [("SELECT var_map(x) FROM t", "postgres"), ("SELECT date_add(x) FROM t", "mysql")],
)
def test_a_parser_crash_is_a_warning_not_an_exception(sql: str, dialect: str) -> None:
    """sqlglot raises IndexError / AttributeError on these instead of its own errors."""
    found = parse_definition(sql, dialect)
    assert isinstance(found, str) and found.startswith("cannot parse the view definition: ")
    assert "the parser failed (" in found
    parsed = parse_view(
        sql, dialect=dialect, view_columns=["x"], catalog=None, db="db", relations=[]
    )
    assert parsed.columns == {} and parsed.problems == (found,)
