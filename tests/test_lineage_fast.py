"""The fast reader (metaingest.lineage.fast) against sqlglot, differentially.

Wherever the reader answers, its answer must equal what ``parse_view`` answers without it
(``direct_columns`` where that answers, else sqlglot's lineage walk — and the walk too), and
its relations must be ``referenced_relations``'s; where it declines, the caller's answer
is sqlglot's by construction. Corpora: the direct path's shapes (test_lineage_direct), the
definitions PostgreSQL and MariaDB print (copied here, and read back from the servers: the
views of test_lineage, the benchmark catalog's generated views, and a list of shapes), and
adversarial ones: names that are keywords or types in casts, EXTRACT, intervals, aliases,
and every keyword and special function sqlglot knows, in every place a name can stand.

Shapes the reader must answer and shapes it must decline are listed apart, so that a
regression either way fails.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

from benchmarks.catalog import CatalogSize, ddl_for_schema
from metaingest.config import parse_config
from metaingest.connectors.base import SchemaBatch
from metaingest.connectors.sqltext import view_query
from metaingest.entities import (
    Column,
    Database,
    DatabaseSchema,
    DataType,
    Table,
    TableType,
    build_fqn,
)
from metaingest.lineage import ViewLineage, fast, parse, resolve
from metaingest.lineage.direct import direct_columns
from metaingest.lineage.index import RelationIndex
from metaingest.lineage.parse import (
    Relation,
    known_relations,
    parse_definition,
    parse_view,
    referenced_relations,
)
from metaingest.lineage.resolve import attach_lineage
from metaingest.workflow import Workflow

from .conftest import MysqlServer, PgServer, quote_mysql, unique_name
from .faultkit import pg_execute
from .test_lineage import PG_DDL, _maria_ddl
from .test_lineage_direct import (
    DIRECT,
    EITHER,
    FULL,
    LITE_SHAPES,
    MYSQL,
    MYSQL_SHAPES,
    PG,
    named_selects,
)

# --- the differential check -------------------------------------------------------------


def _check(
    sql: str,
    dialect: str,
    relations: list[Relation],
    catalog: str | None,
    db: str,
    columns: Sequence[str] | None = None,
) -> bool:
    """Whether the fast reader answers ``sql``; where it does, its answer must be sqlglot's."""
    reading = fast.read(sql, dialect)
    if reading is None:
        return False
    query = parse_definition(sql, dialect)
    assert not isinstance(query, str), f"the reader reads what sqlglot cannot parse: {query}"
    assert sorted(reading.tables) == sorted(referenced_relations(query, dialect))
    if columns is None:
        columns = named_selects(sql, dialect, relations, catalog, db)
    index = known_relations(relations, dialect)
    kwargs: dict[str, Any] = {
        "dialect": dialect, "view_columns": columns, "catalog": catalog, "db": db,
        "relations": index,
    }  # fmt: skip
    answered = reading.columns(index, catalog, db, columns) is not None and all(
        index.lookup(*table, catalog, db) is not None for table in reading.tables
    )
    got = parse_view(reading, **kwargs)
    # without the reader: sqlglot's parse, then the direct path or the walk
    assert got == parse_view(parse_definition(sql, dialect), **kwargs)
    if answered:
        assert got == parse_view(parse_definition(sql, dialect), direct=False, **kwargs)
        fresh = parse_definition(sql, dialect)
        assert not isinstance(fresh, str)
        direct = direct_columns(fresh, index, catalog, db, columns)
        assert direct is None or direct == got.columns
    return answered


# --- the direct path's corpus -----------------------------------------------------------


@pytest.mark.parametrize("sql", DIRECT)
def test_the_direct_paths_shapes_are_answered(sql: str) -> None:
    assert _check(sql, "postgres", PG, "db", "public")


@pytest.mark.parametrize("sql", FULL)
def test_the_shapes_left_to_the_walk_are_declined(sql: str) -> None:
    assert not _check(sql, "postgres", PG, "db", "public")


@pytest.mark.parametrize("sql", EITHER)
def test_either_way_the_answer_is_sqlglots(sql: str) -> None:
    _check(sql, "postgres", PG, "db", "public")


@pytest.mark.parametrize("sql", MYSQL_SHAPES)
def test_the_mysql_shapes_are_answered(sql: str) -> None:
    assert _check(sql, "mysql", MYSQL, None, "shop")


@pytest.mark.parametrize("dialect", ["sqlite", "duckdb"])
def test_sqlite_and_duckdb_are_left_to_sqlglot(dialect: str) -> None:
    """Their definitions are the user's own text: sqlglot reads it."""
    for sql in LITE_SHAPES:
        assert fast.read(sql, dialect) is None


# --- definitions as the servers print them (copied from PostgreSQL 15 and MariaDB 10.11) ---

S = "pg.db.s"
PG_RELATIONS = [
    Relation(
        f"{S}.orders",
        "db",
        "s",
        "orders",
        (
            "id",
            "customer_id",
            "amount",
            "placed",
            "note",
            "year",
            "date",
            "text",
            "value",
            "interval",
            "time",
            "payload",
            "tags",
            "Mixed",
        ),
    ),
    Relation(f"{S}.customers", "db", "s", "customers", ("id", "name", "region", "created")),
    Relation(
        build_fqn("pg", "db", "Odd Schema", "Odd Table"),
        "db",
        "Odd Schema",
        "Odd Table",
        ("Key", "select", "a.b"),
    ),
]
ORD = f"{S}.orders"

# pg_get_viewdef(oid, true) of views of every common shape: the reader answers them all
PG_PRINTED = [
    " SELECT a.id,\n    a.code,\n    b.id AS right_id\n   FROM mi_bench_s0000.t0000 a\n"
    "     JOIN mi_bench_s0000.t0001 b ON b.id = a.id",
    " SELECT a.id % 10::bigint AS bucket,\n    count(*) AS n,\n"
    "    count(DISTINCT a.c05_date) AS kinds\n   FROM mi_bench_s0000.t0001 a\n"
    "  GROUP BY (a.id % 10::bigint)",
    " SELECT b.id,\n        CASE\n            WHEN b.id > 10 THEN 'big'::text\n"
    "            ELSE 'small'::text\n        END AS size\n   FROM mi_bench_s0000.t0002 b\n"
    "UNION ALL\n SELECT c.id,\n    'other'::text AS size\n   FROM mi_bench_s0000.t0003 c",
    " WITH w AS (\n         SELECT v_0.id,\n            v_0.code\n"
    "           FROM mi_bench_s0001.v_0\n        )\n SELECT w.id,\n"
    "    row_number() OVER (ORDER BY w.id) AS rn\n   FROM w\n"
    "     JOIN mi_bench_s0000.t0000 x ON x.id = w.id",
    " SELECT o.id,\n    EXTRACT(year FROM o.date) AS y,\n    EXTRACT(epoch FROM o.placed) AS e,\n"
    "    date_part('year'::text, o.placed) AS dp,\n    EXTRACT(year FROM o.placed) AS year\n"
    "   FROM s.orders o",
    " SELECT o.year::text AS t1,\n    o.text::date AS t2,\n    o.value::text AS value,\n"
    "    o.date::timestamp without time zone AS ts,\n    o.amount::numeric(10,2) AS n,\n"
    '    o.note::character varying(5) AS vc,\n    o."interval"::bigint AS iv,\n'
    "    o.amount::double precision AS dp,\n    o.tags AS ta\n   FROM s.orders o",
    ' SELECT SUBSTRING(o.note FROM 1 FOR 2) AS s1,\n    "substring"(o.note, 2) AS s2,\n'
    "    TRIM(BOTH 'x'::text FROM o.note) AS tr,\n"
    "    POSITION(('a'::text) IN (o.note)) AS pos,\n    o.note ~~ 'a%'::text AS l,\n"
    "    o.note ~~* 'a%'::text AS il,\n    o.note !~~ 'b%'::text AS nl,\n"
    "    o.note || o.text AS cat,\n    upper(o.note) AS up,\n"
    "    OVERLAY(o.note PLACING 'x'::text FROM 1 FOR 2) AS ov,\n"
    "    o.note ~ similar_to_escape('a%'::text) AS sim,\n    o.note ~ '^a'::text AS re\n"
    "   FROM s.orders o",
    " SELECT o.id,\n        CASE o.value\n            WHEN 1 THEN o.amount\n"
    "            WHEN 2 THEN o.year::numeric\n            ELSE NULL::numeric\n        END AS c1,\n"
    "        CASE\n            WHEN o.amount IS NULL THEN 0\n"
    "            WHEN o.amount >= 1::numeric AND o.amount <= 10::numeric THEN o.value\n"
    "            ELSE '-1'::integer\n        END AS c2,\n"
    "    COALESCE(o.note, o.text, 'none'::text) AS c3,\n    NULLIF(o.value, 0) AS c4,\n"
    "    GREATEST(o.value, o.year) AS c5,\n    o.id = ANY (ARRAY[1, 2, 3]) AS c6,\n"
    "    o.id <> ALL (ARRAY[4, 5]) AS c7,\n    o.note IS DISTINCT FROM o.text AS c8,\n"
    "    NOT o.id > 5 AS c9\n   FROM s.orders o",
    " SELECT o.id,\n    row_number() OVER (PARTITION BY o.customer_id ORDER BY o.placed DESC"
    " NULLS LAST) AS rn,\n    sum(o.amount) OVER (PARTITION BY o.customer_id ORDER BY o.id ROWS"
    " BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,\n"
    "    lag(o.amount, 1) OVER (ORDER BY o.id) AS prev,\n    avg(o.amount) OVER () AS av\n"
    "   FROM s.orders o",
    " SELECT o.customer_id,\n    count(*) AS n,\n    count(DISTINCT o.value) AS k,\n"
    "    sum(o.amount) FILTER (WHERE o.value > 0) AS pos,\n"
    "    string_agg(o.note, ','::text ORDER BY o.id) AS notes,\n    array_agg(o.id) AS ids,\n"
    "    percentile_cont(0.5::double precision) WITHIN GROUP (ORDER BY (o.amount::double"
    " precision)) AS med,\n    max(o.placed) AS last\n   FROM s.orders o\n"
    "  GROUP BY o.customer_id\n HAVING count(*) > 1",
    " WITH a AS (\n         SELECT o.id,\n            o.amount\n           FROM s.orders o\n"
    "          WHERE o.value > 0\n        ), b AS (\n         SELECT a.id,\n"
    "            a.amount * 2::numeric AS dbl\n           FROM a\n        )\n SELECT b.id,\n"
    "    b.dbl,\n    c.name\n   FROM b\n     JOIN s.customers c ON c.id = b.id",
    " WITH a AS MATERIALIZED (\n         SELECT o.id\n           FROM s.orders o\n        )\n"
    " SELECT a.id\n   FROM a",
    " SELECT d.customer_id,\n    d.total,\n    c.region\n   FROM ( SELECT o.customer_id,\n"
    "            sum(o.amount) AS total\n           FROM s.orders o\n"
    "          GROUP BY o.customer_id) d\n     LEFT JOIN s.customers c ON c.id = d.customer_id",
    " SELECT o.id,\n    c.name,\n    c2.region\n   FROM s.orders o\n"
    "     LEFT JOIN s.customers c ON c.id = o.customer_id\n"
    "     RIGHT JOIN s.customers c2 ON c2.id = o.id\n"
    "     FULL JOIN s.customers c3 ON c3.id = o.id\n"
    "     CROSS JOIN s.customers c4\n  WHERE c4.id = 1",
    " SELECT o.id,\n    c.name\n   FROM s.orders o,\n    s.customers c\n"
    "  WHERE c.id = o.customer_id",
    " SELECT o.id,\n    c.name\n   FROM s.orders o\n     LEFT JOIN (s.customers c\n"
    "     JOIN s.customers c2 ON c2.id = c.id) ON c.id = o.customer_id",
    "(\n         SELECT o.id,\n            o.note\n           FROM s.orders o\n        UNION\n"
    "         SELECT c.id,\n            c.name AS note\n           FROM s.customers c\n"
    ") EXCEPT (\n         SELECT o2.value AS id,\n            o2.text AS note\n"
    "           FROM s.orders o2\n        INTERSECT\n         SELECT 1 AS id,\n"
    "            'x'::text AS note\n)",
    "( SELECT o.id\n   FROM s.orders o\n  ORDER BY o.id\n LIMIT 3)\nUNION ALL\n SELECT c.id\n"
    "   FROM s.customers c\n  ORDER BY 1\n LIMIT 10",
    " SELECT DISTINCT ON (o.customer_id) o.customer_id,\n    o.amount\n   FROM s.orders o\n"
    "  ORDER BY o.customer_id, o.amount DESC",
    ' SELECT t."Key",\n    t."select",\n    t."a.b" AS ab\n   FROM "Odd Schema"."Odd Table" t',
    ' SELECT "Odd Table"."Key"\n   FROM "Odd Schema"."Odd Table"',
    ' SELECT o."Mixed",\n    o."time",\n    o."interval"\n   FROM s.orders o',
    " SELECT (c.created AT TIME ZONE 'UTC'::text) AS utc,\n"
    "    date_trunc('day'::text, c.created) AS d,\n    c.created::date AS cd\n"
    "   FROM s.customers c",
    ' SELECT o.note COLLATE "C" AS n\n   FROM s.orders o',
    " SELECT o.id\n   FROM s.orders o\n  WHERE (o.id = ANY (ARRAY[1, 2])) AND (o.note <> ALL"
    " (ARRAY['a'::text, 'b'::text]))",
    " SELECT o.id\n   FROM s.orders o\n  ORDER BY o.id\n OFFSET 2\n LIMIT 5",
    " SELECT o.customer_id,\n    o.value,\n    sum(o.amount) AS s\n   FROM s.orders o\n"
    "  GROUP BY ROLLUP(o.customer_id, o.value)",
    " SELECT 1 AS one,\n    'a''b'::text AS q,\n    'a\\b'::text AS e,\n"
    "    '1500'::numeric AS f,\n    NULL::integer AS nul,\n    true AS t,\n"
    "    '2020-01-01'::date AS d,\n    '-5'::integer AS neg,\n    o.id\n   FROM s.orders o",
    " SELECT o.id\n   FROM ONLY s.orders o",
    " SELECT o.id % 10 AS m,\n    o.amount ^ 2::numeric AS p,\n    o.id & 3 AS b,\n"
    "    - o.amount AS neg,\n    o.id / 2 AS d,\n    abs(o.amount) AS ab\n   FROM s.orders o",
    " SELECT a.id,\n    b.id AS bid\n   FROM s.orders a\n"
    "     JOIN s.orders b ON b.customer_id = a.id",
    " SELECT o.year,\n    o.value,\n    o.date,\n    o.text\n   FROM s.orders o",
    " WITH orders AS (\n         SELECT c.id,\n            c.name AS note\n"
    "           FROM s.customers c\n        )\n SELECT orders.note\n   FROM orders",
    " WITH w AS (\n         SELECT o.id\n           FROM s.orders o\n        )\n SELECT a.id,\n"
    "    b.id AS id2\n   FROM w a\n     JOIN w b ON a.id = b.id",
    " SELECT o.amount::integer AS i,\n    o.placed::text AS t,\n"
    "    to_char(o.placed::timestamp with time zone, 'YYYY'::text) AS yy,\n"
    "    o.amount::integer::text AS chain\n   FROM s.orders o",
    " SELECT o.placed::timestamp with time zone AS a,\n    o.note::character varying AS b,\n"
    "    o.amount::real AS c,\n    o.id::smallint AS d,\n    o.id::bit(8) AS e,\n"
    '    o.note::"char" AS f,\n    o.note::bpchar AS g,\n    o.id::numeric AS h,\n'
    "    o.placed::timestamp(3) without time zone AS i,\n    o.note::uuid AS j,\n"
    "    o.note::json AS k,\n    o.note::xml AS l,\n    o.note::regclass AS m\n"
    "   FROM s.orders o",
    " SELECT '-1'::integer AS a,\n    - o.id AS b,\n    + o.id AS c,\n"
    "    o.id - '-1'::integer AS d\n   FROM s.orders o",
    " SELECT o.id\n   FROM s.orders o\n  WHERE o.placed > '2020-01-01'::date AND o.placed <"
    " (now() - '3 days'::interval)",
    " SELECT orders.id,\n    orders.amount\n   FROM s.orders",
    " SELECT 1 AS one",
]

# what PostgreSQL prints for the shapes the reader leaves to sqlglot
PG_PRINTED_DECLINED = [
    " SELECT o.id,\n    ( SELECT max(c.name) AS max\n           FROM s.customers c) AS m\n"
    "   FROM s.orders o",
    " SELECT o.id\n   FROM s.orders o\n  WHERE (EXISTS ( SELECT 1\n"
    "           FROM s.customers c\n          WHERE c.id = o.customer_id))",
    " SELECT o.id\n   FROM s.orders o\n  WHERE (o.customer_id IN ( SELECT c.id\n"
    "           FROM s.customers c))",
    " SELECT o.id,\n    c.name\n   FROM s.orders o\n     JOIN s.customers c USING (id)",
    " SELECT o.id,\n    l.x\n   FROM s.orders o,\n"
    "    LATERAL ( SELECT o.amount * 2::numeric AS x) l",
    " SELECT g.g\n   FROM generate_series(1, 3) g(g)",
    " SELECT v.a\n   FROM ( VALUES (1), (2)) v(a)",
    ' WITH RECURSIVE r(n) AS (\n         SELECT 1 AS "?column?"\n        UNION ALL\n'
    "         SELECT r_1.n + 1\n           FROM r r_1\n          WHERE r_1.n < 3\n        )\n"
    " SELECT r.n\n   FROM r",
    " SELECT o.id,\n    sum(o.amount) OVER w AS s\n   FROM s.orders o\n"
    "  WINDOW w AS (PARTITION BY o.customer_id)",
    " SELECT o.payload -> 'a'::text AS a,\n    o.payload ->> 'b'::text AS b,\n"
    "    o.tags[1] AS t1\n   FROM s.orders o",
    " SELECT o.placed + make_interval(days => o.value) AS later\n   FROM s.orders o",
    " SELECT CURRENT_USER AS u,\n    USER AS us,\n    o.id\n   FROM s.orders o",
    " SELECT year.id\n   FROM s.orders year",
    " SELECT o.id\n   FROM s.orders o\n  ORDER BY o.id\n FETCH FIRST (5) ROWS WITH TIES",
    " SELECT o.tags[1:2] AS sl,\n    (o.payload -> 'x'::text) ->> 'y'::text AS j\n"
    "   FROM s.orders o",
]

BENCH_RELATIONS = [
    Relation(f"pg.db.mi_bench_s{s:04d}.{t}", "db", f"mi_bench_s{s:04d}", t, columns)
    for s in range(2)
    for t, columns in (
        ("t0000", ("id", "code", "c02")),
        ("t0001", ("id", "c01", "c05_date")),
        ("t0002", ("id", "c01")),
        ("t0003", ("id", "c01")),
        ("v_0", ("id", "code", "c02", "right_id")),
    )
]


@pytest.mark.parametrize("sql", PG_PRINTED)
def test_postgresql_printed_shapes_are_answered(sql: str) -> None:
    relations = PG_RELATIONS + BENCH_RELATIONS
    assert _check(sql, "postgres", relations, "db", "s")


@pytest.mark.parametrize("sql", PG_PRINTED_DECLINED)
def test_postgresql_printed_shapes_left_to_sqlglot(sql: str) -> None:
    assert not _check(sql, "postgres", PG_RELATIONS, "db", "s")


M = "m.default.s"
MYSQL_RELATIONS = [
    Relation(
        f"{M}.orders",
        None,
        "s",
        "orders",
        (
            "id",
            "customer_id",
            "amount",
            "placed",
            "note",
            "year",
            "date",
            "text",
            "value",
            "interval",
            "time",
            "payload",
            "Mixed",
            "created",
        ),
    ),
    Relation(f"{M}.customers", None, "s", "customers", ("id", "name", "region", "created")),
    Relation("m.default.s2.Odd Table", None, "s2", "Odd Table", ("Key", "select", "a.b", "b`t")),
    Relation("m.default.b0.t0001", None, "b0", "t0001", ("id", "c05_date")),
    Relation("m.default.b0.t0002", None, "b0", "t0002", ("id",)),
    Relation("m.default.b0.t0003", None, "b0", "t0003", ("id",)),
    Relation("m.default.b0.v_0", None, "b0", "v_0", ("id", "code", "right_id")),
    Relation("m.default.b0.t0000", None, "b0", "t0000", ("id",)),
]

# information_schema.VIEWS.VIEW_DEFINITION on MariaDB 10.11: the reader answers them all
MYSQL_PRINTED = [
    "select `a`.`id` AS `bucket` from `b0`.`t0001` `a`",
    "select `a`.`id` MOD 10 AS `bucket`,count(0) AS `n`,count(distinct `a`.`c05_date`) AS `kinds`"
    " from `b0`.`t0001` `a` group by `a`.`id` MOD 10",
    "select `b`.`id` AS `id`,case when `b`.`id` > 10 then 'big' else 'small' end AS `size` from"
    " `b0`.`t0002` `b` union all select `c`.`id` AS `id`,'other' AS `other` from `b0`.`t0003` `c`",
    "with w as (select `v_0`.`id` AS `id`,`v_0`.`code` AS `code`,`v_0`.`right_id` AS `right_id`"
    " from `b0`.`v_0`)select `w`.`id` AS `id`,row_number() over ( order by `w`.`id`) AS `rn`"
    " from (`w` join `b0`.`t0000` `x` on(`x`.`id` = `w`.`id`))",
    "select `o`.`customer_id` AS `customer_id`,count(0) AS `n`,count(distinct `o`.`value`) AS `k`,"
    "max(`o`.`placed`) AS `last`,group_concat(distinct `o`.`note` order by `o`.`id` DESC"
    " separator ';') AS `notes`,sum(`o`.`amount`) AS `s` from `s`.`orders` `o` group by"
    " `o`.`customer_id` having count(0) > 1",
    "select (`o`.`amount` * 2 + `o`.`value`) / (`o`.`year` - 1) AS `x`,`o`.`amount` * (1 - 0.1)"
    " AS `y`,abs(`o`.`value`) AS `z`,round(`o`.`amount`,2) AS `r`,`o`.`value` & 1 AS `band`,"
    "`o`.`value` | 1 AS `bor`,`o`.`value` << 1 AS `sh`,`o`.`value` ^ 2 AS `bx` from `s`.`orders`"
    " `o`",
    "select `o`.`id` AS `id`,`o`.`amount` > 0 and `o`.`value` < 3 or `o`.`note` is not null AS"
    " `b`,`o`.`value` is true AS `t`,`o`.`value` xor `o`.`id` AS `x`,`o`.`value` DIV 2 AS `dv`,"
    "`o`.`value` MOD 3 AS `md` from `s`.`orders` `o`",
    "select `o`.`id` AS `id`,case `o`.`value` when 1 then `o`.`amount` when 2 then `o`.`year` else"
    " NULL end AS `c1`,case when `o`.`amount` is null then 0 when `o`.`amount` between 1 and 10"
    " then `o`.`value` else -1 end AS `c2`,coalesce(`o`.`note`,`o`.`text`,'none') AS `c3`,"
    "nullif(`o`.`value`,0) AS `c4`,greatest(`o`.`value`,`o`.`year`) AS `c5`,`o`.`id` in (1,2,3)"
    " AS `c6`,`o`.`id` not in (4,5) AS `c7`,`o`.`note` <=> `o`.`text` AS `c8`,`o`.`id` <= 5 AS"
    " `c9`,if(`o`.`value` > 0,`o`.`amount`,`o`.`year`) AS `c10`,ifnull(`o`.`note`,'x') AS `c11`"
    " from `s`.`orders` `o`",
    "select `o`.`id` AS `id`,`c`.`name` AS `name` from `s`.`orders` `o` join `s`.`customers` `c`"
    " where `c`.`id` = `o`.`customer_id`",
    "with a as (select `o`.`id` AS `id`,`o`.`amount` AS `amount` from `s`.`orders` `o` where"
    " `o`.`value` > 0), b as (select `a`.`id` AS `id`,`a`.`amount` * 2 AS `dbl` from `a`)select"
    " `b`.`id` AS `id`,`b`.`dbl` AS `dbl`,`c`.`name` AS `name` from (`b` join `s`.`customers`"
    " `c` on(`c`.`id` = `b`.`id`))",
    "with w as (select `o`.`id` AS `id` from `s`.`orders` `o`)select `a`.`id` AS `id`,`b`.`id` AS"
    " `id2` from (`w` `a` join `w` `b` on(`a`.`id` = `b`.`id`))",
    "with orders as (select `c`.`id` AS `id`,`c`.`name` AS `note` from `s`.`customers` `c`)select"
    " `orders`.`note` AS `note` from `orders`",
    "select current_user() AS `u`,user() AS `us`,database() AS `db`,`o`.`id` AS `id`,"
    "unix_timestamp() AS `ut`,utc_timestamp() AS `utc` from `s`.`orders` `o`",
    "select date_format(`o`.`placed`,'%Y') AS `df`,str_to_date(`o`.`note`,'%Y') AS `sd`,"
    "to_days(`o`.`placed`) - to_days(`o`.`date`) AS `dd`,`o`.`created` AS `c`,"
    "dayname(`o`.`placed`) AS `dn`,last_day(`o`.`placed`) AS `ld`,weekday(`o`.`placed`) AS `wd`,"
    "month(`o`.`placed`) AS `mo`,`o`.`placed` + interval 1 year AS `py` from `s`.`orders` `o`",
    "select `d`.`customer_id` AS `customer_id`,`d`.`total` AS `total`,`c`.`region` AS `region`"
    " from ((select `o`.`customer_id` AS `customer_id`,sum(`o`.`amount`) AS `total` from"
    " `s`.`orders` `o` group by `o`.`customer_id`) `d` left join `s`.`customers` `c`"
    " on(`c`.`id` = `d`.`customer_id`))",
    "select `u`.`id` AS `id` from (select `s`.`orders`.`id` AS `id` from `s`.`orders` union select"
    " `s`.`customers`.`id` AS `id` from `s`.`customers`) `u`",
    "select distinct `o`.`customer_id` AS `customer_id` from `s`.`orders` `o`",
    "select `o`.`id` AS `id`,extract(year from `o`.`date`) AS `y`,extract(year_month from"
    " `o`.`placed`) AS `ym`,year(`o`.`placed`) AS `yr`,extract(year from `o`.`placed`) AS `year`"
    " from `s`.`orders` `o`",
    "select `o`.`placed` + interval 1 day AS `tomorrow`,`o`.`placed` + interval `o`.`value` day AS"
    " `later`,`o`.`placed` - interval 2 hour AS `earlier`,curdate() - interval 1 month AS `m`,"
    "current_timestamp() AS `n`,current_timestamp() AS `ct`,curdate() AS `cd`,timestampdiff(DAY,"
    "`o`.`placed`,`o`.`date`) AS `diff` from `s`.`orders` `o`",
    "select `o`.`id` AS `id` from `s`.`orders` `o` where `o`.`note` in ('a','b') and `o`.`id`"
    " between 1 and 5",
    "select `o`.`id` AS `id`,`c`.`name` AS `name`,`c2`.`region` AS `region` from"
    " ((`s`.`customers` `c2` left join (`s`.`orders` `o` left join `s`.`customers` `c`"
    " on(`c`.`id` = `o`.`customer_id`)) on(`c2`.`id` = `o`.`id`)) join `s`.`customers` `c4`)"
    " where `c4`.`id` = 1",
    "select `o`.`id` AS `id` from `s`.`orders` `o` order by `o`.`id` limit 2,5",
    "select `o`.`id` AS `id`,soundex(`o`.`note`) = soundex('x') AS `sl` from `s`.`orders` `o`",
    "select `o`.`Mixed` AS `Mixed`,`o`.`time` AS `time`,`o`.`interval` AS `interval` from"
    " `s`.`orders` `o`",
    "select -1 AS `a`,-`o`.`id` AS `b`,`o`.`id` - -1 AS `d`,~`o`.`id` AS `inv`,`o`.`id` = 0 AS"
    " `bang` from `s`.`orders` `o`",
    "select `t`.`Key` AS `Key`,`t`.`select` AS `select`,`t`.`a.b` AS `ab`,`t`.`b``t` AS `bt`"
    " from `s2`.`Odd Table` `t`",
    "select `o`.`customer_id` AS `customer_id`,sum(`o`.`amount`) AS `s` from `s`.`orders` `o`"
    " group by `o`.`customer_id` with rollup",
    "select `s`.`orders`.`id` AS `id`,`s`.`orders`.`customer_id` + 1 AS `c` from `s`.`orders`"
    " where `s`.`orders`.`amount` > 0",
    "select `O`.`id` AS `ID`,`O`.`amount` AS `Amount` from `s`.`orders` `O`",
    "select `o`.`id` AS `id`,row_number() over ( partition by `o`.`customer_id` order by"
    " `o`.`placed` desc) AS `rn`,sum(`o`.`amount`) over ( partition by `o`.`customer_id` order by"
    " `o`.`id` rows between  unbounded  preceding  and  current row ) AS `running`,"
    "lag(`o`.`amount`,1) over ( order by `o`.`id`) AS `prev`,avg(`o`.`amount`) over () AS `av`"
    " from `s`.`orders` `o`",
    "select `o`.`id` AS `id`,`o`.`note` collate utf8mb4_bin AS `cl`,_utf8mb4'abc' AS `lit`,"
    "'it\\'s' AS `q`,'back\\\\slash' AS `b`,DATE'2020-01-01' AS `d`,0x41 AS `hx`,1.5e3 AS `f`"
    " from `s`.`orders` `o`",
    "(select `o`.`id` AS `id` from `s`.`orders` `o` order by `o`.`id` limit 3) union all (select"
    " `c`.`id` AS `id` from `s`.`customers` `c`) order by 1 limit 10",
    "select cast(`o`.`year` as char charset utf8mb4) AS `t1`,cast(`o`.`text` as date) AS `t2`,"
    "cast(`o`.`value` as char(10) charset utf8mb4) AS `value`,cast(`o`.`amount` as"
    " decimal(10,2)) AS `n`,cast(`o`.`value` as signed) AS `sg`,cast(`o`.`value` as unsigned) AS"
    " `us`,cast(`o`.`placed` as datetime) AS `dt`,cast(`o`.`interval` as double) AS `d` from"
    " `s`.`orders` `o`",
]

MYSQL_PRINTED_DECLINED = [
    "select `o`.`id` AS `id`,(select max(`c`.`name`) from `s`.`customers` `c`) AS `m` from"
    " `s`.`orders` `o`",
    "select `o`.`id` AS `id` from `s`.`orders` `o` where exists(select 1 from `s`.`customers` `c`"
    " where `c`.`id` = `o`.`customer_id` limit 1)",
    "select `o`.`id` AS `id` from `s`.`orders` `o` where `o`.`customer_id` in (select `c`.`id`"
    " from `s`.`customers` `c`)",
    "select convert(`o`.`note` using latin1) AS `cu` from `s`.`orders` `o`",
    "select `o`.`id` AS `id` from `s`.`orders` `o` USE INDEX (PRIMARY)",
    "select `o`.`id` AS `id` from (`s`.`orders` `o` straight_join `s`.`customers` `c`"
    " on(`c`.`id` = `o`.`id`))",
    "with recursive r(`n`) as (select 1 AS `n` union all select `r`.`n` + 1 AS `r.n + 1` from `r`"
    " where `r`.`n` < 3)select `r`.`n` AS `n` from `r`",
    "select X'41' AS `xx`,`o`.`id` AS `id` from `s`.`orders` `o`",
    "select char(65) AS `ch` from `s`.`orders` `o`",
    "select json_value(`o`.`payload`,'$.a') AS `j` from `s`.`orders` `o`",
]


@pytest.mark.parametrize("sql", MYSQL_PRINTED)
def test_mariadb_printed_shapes_are_answered(sql: str) -> None:
    assert _check(sql, "mysql", MYSQL_RELATIONS, None, "s")


@pytest.mark.parametrize("sql", MYSQL_PRINTED_DECLINED)
def test_mariadb_printed_shapes_left_to_sqlglot(sql: str) -> None:
    assert not _check(sql, "mysql", MYSQL_RELATIONS, None, "s")


# --- adversarial: names that are keywords or types, where a naive reader would see columns --


def _answer(sql: str, dialect: str, columns: Sequence[str]) -> dict[str, tuple[str, ...]]:
    relations = PG_RELATIONS if dialect == "postgres" else MYSQL_RELATIONS
    catalog = "db" if dialect == "postgres" else None
    assert _check(sql, dialect, relations, catalog, "s", columns)
    reading = fast.read(sql, dialect)
    assert reading is not None
    out = reading.columns(known_relations(relations, dialect), catalog, "s", columns)
    assert out is not None
    return out


def test_keyword_named_columns_in_casts_and_extract_postgresql() -> None:
    """Columns named year, date, text, value, interval, time: as casts' types, EXTRACT's
    field and aliases they are no column; as column names after a dot they are."""
    sql = (
        " SELECT EXTRACT(year FROM o.date) AS year,\n    o.year::text AS text,\n"
        "    o.text::date AS date,\n    CAST(o.value AS interval) AS value,\n"
        '    o."interval"::bigint AS "interval",\n    o."time"::text AS t,\n'
        "    date_part('year'::text, o.date) AS dp,\n"
        "    o.placed + '1 day'::interval AS tomorrow,\n"
        "    o.date::timestamp without time zone AS ts,\n    o.amount::double precision AS dbl,\n"
        "    EXTRACT(epoch FROM o.year::text::interval) AS ep\n   FROM s.orders o"
    )
    columns = [
        "year", "text", "date", "value", "interval", "t", "dp", "tomorrow", "ts", "dbl", "ep",
    ]  # fmt: skip
    assert _answer(sql, "postgres", columns) == {
        "year": (f"{ORD}.date",),
        "text": (f"{ORD}.year",),
        "date": (f"{ORD}.text",),
        "value": (f"{ORD}.value",),
        "interval": (f"{ORD}.interval",),
        "t": (f"{ORD}.time",),
        "dp": (f"{ORD}.date",),
        "tomorrow": (f"{ORD}.placed",),
        "ts": (f"{ORD}.date",),
        "dbl": (f"{ORD}.amount",),
        "ep": (f"{ORD}.year",),
    }


def test_keyword_named_columns_in_casts_and_intervals_mariadb() -> None:
    sql = (
        "select extract(year from `o`.`date`) AS `year`,cast(`o`.`year` as char charset utf8mb4)"
        " AS `text`,cast(`o`.`text` as date) AS `date`,`o`.`placed` + interval `o`.`value` day AS"
        " `later`,timestampdiff(DAY,`o`.`placed`,`o`.`date`) AS `diff`,`o`.`note` collate"
        " utf8mb4_bin AS `value`,cast(`o`.`interval` as signed) AS `interval`,`o`.`time` + interval"
        " 1 year AS `time` from `s`.`orders` `o`"
    )
    columns = ["year", "text", "date", "later", "diff", "value", "interval", "time"]
    assert _answer(sql, "mysql", columns) == {
        "year": (f"{M}.orders.date",),
        "text": (f"{M}.orders.year",),
        "date": (f"{M}.orders.text",),
        "later": (f"{M}.orders.placed", f"{M}.orders.value"),
        "diff": (f"{M}.orders.date", f"{M}.orders.placed"),
        "value": (f"{M}.orders.note",),
        "interval": (f"{M}.orders.interval",),
        "time": (f"{M}.orders.time",),
    }


# keyword-like words where the reader cannot tell (or sqlglot reads them its own way): declined
ADVERSARIAL_DECLINED = [
    ("postgres", "SELECT EXTRACT(year FROM date) AS y FROM s.orders"),  # a bare keyword
    ("postgres", "SELECT year, value FROM s.orders"),
    ("postgres", "SELECT text FROM s.orders"),
    ("postgres", "SELECT o.id, interval FROM s.orders o"),
    ("postgres", "SELECT date_part(o.note, o.placed) AS x FROM s.orders o"),  # sqlglot drops it
    ("postgres", "SELECT o.placed::interval year AS x FROM s.orders o"),
    ("postgres", "SELECT EXTRACT(o.year FROM o.placed) AS x FROM s.orders o"),
    ("postgres", "SELECT normalize(o.note, nfc) AS x FROM s.orders o"),
    ("postgres", "SELECT xmlelement(name foo, o.note) AS x FROM s.orders o"),
    ("postgres", "SELECT o.id AS x FROM s.orders AS o(a, b)"),
    ("postgres", "WITH w(a) AS (SELECT o.id FROM s.orders o) SELECT w.a FROM w"),
    ("postgres", "SELECT o.id FROM s.orders o NATURAL JOIN s.customers c"),
    ("postgres", "SELECT o.id -- a comment\n FROM s.orders o"),
    ("postgres", "SELECT E'a\\\\b' AS e, o.id FROM s.orders o"),
    ("postgres", "SELECT (o.payload).x AS x FROM s.orders o"),
    ("postgres", "SELECT first_value(o.id) IGNORE NULLS OVER () AS f FROM s.orders o"),
    ("postgres", "SELECT o.note IS NORMALIZED AS n FROM s.orders o"),
    ("postgres", "SELECT o.id FROM s.orders o TABLESAMPLE SYSTEM (1)"),
    ("postgres", "SELECT o.id FROM s.orders o FOR UPDATE"),
    ("postgres", "SELECT o.id, o.date FROM s.orders o WHERE o.date OVERLAPS o.placed"),
    ("postgres", "SELECT o.id AS x, o.value AS x FROM s.orders o"),  # two outputs named alike
    ("postgres", "SELECT orders.id FROM s.orders, s.orders"),  # one name for two relations
    ("postgres", "SELECT id FROM s.orders o, s.customers c"),  # ambiguous
    ("postgres", "SELECT x.id FROM s.orders o"),  # an unknown alias
    ("postgres", "SELECT o.nothing FROM s.orders o"),  # an unknown column
    ("postgres", "SELECT o.id FROM s.orders o; SELECT 1"),
    ("postgres", "SELECT $1 AS p FROM s.orders o"),
    ("postgres", "SELECT o.id FROM s.orders o WHERE o.note LIKE 'x' ESCAPE"),
    ("postgres", "SELECT o.id BETWEEN 1 FROM s.orders o"),
    ("postgres", "SELECT s.orders.* FROM s.orders"),
    ("mysql", "select year from `s`.`orders`"),  # MariaDB quotes every column: a bare word
    ("mysql", "select `o`.`id` AS `id` from `s`.`orders` `o` where `o`.`payload` -> '$.a'"),
    ("mysql", "select `o`.`placed` + interval 1 fortnight AS `x` from `s`.`orders` `o`"),
    ("mysql", "select extract(epoch from `o`.`placed`) AS `x` from `s`.`orders` `o`"),
    (
        "mysql",
        "select timestampdiff(`o`.`note`,`o`.`placed`,`o`.`date`) AS `x` from `s`.`orders` `o`",
    ),
    ("mysql", "select cast(`o`.`note` as char character set latin1) AS `x` from `s`.`orders` `o`"),
    ("mysql", "select `o`.`id` AS `id` from `s`.`orders` `o` # a comment"),
    ("mysql", "select _latin1 0x41 AS `x` from `s`.`orders` `o`"),
    ("mysql", 'select "a string" AS `x`, "b" `y` from `s`.`orders` `o`'),
    ("mysql", "select `o`.`id` AS `id` from `s`.`orders` `o` natural join `s`.`customers` `c`"),
    ("mysql", "select match(`o`.`note`) against ('x') AS `m` from `s`.`orders` `o`"),
]


@pytest.mark.parametrize(("dialect", "sql"), ADVERSARIAL_DECLINED)
def test_adversarial_shapes_are_declined(dialect: str, sql: str) -> None:
    relations = PG_RELATIONS if dialect == "postgres" else MYSQL_RELATIONS
    catalog = "db" if dialect == "postgres" else None
    assert not _check(sql, dialect, relations, catalog, "s")


# --- every keyword and special function sqlglot knows, in every place a name stands ---------

# {w}: the word; the relation s.t has columns a and {w}, and a relation s.{w} exists
_TEMPLATES = [
    "SELECT {w} FROM s.t",
    "SELECT t.{w} FROM s.t",
    "SELECT t.a AS {w} FROM s.t",
    "SELECT {w}.a FROM s.t {w}",
    "SELECT {w}.a FROM s.t AS {w}",
    "SELECT {w}(t.{w}) AS x FROM s.t",
    "SELECT lower({w}) AS x FROM s.t",
    "SELECT t.a::{w} AS x FROM s.t",
    "SELECT CAST(t.a AS {w}) AS x FROM s.t",
    "SELECT EXTRACT({w} FROM t.a) AS x FROM s.t",
    "SELECT t.a {w} FROM s.t",
    "WITH {w} AS (SELECT t.a FROM s.t) SELECT {w}.a FROM {w}",
    "SELECT t.a {w} t.{w} AS x FROM s.t",
    "SELECT {w} '1' AS x, t.a FROM s.t",
    "SELECT d.a FROM (SELECT t.a FROM s.t) {w}, s.t d",
    "SELECT count(*) OVER (PARTITION BY {w}) AS x FROM s.t",
    "SELECT t.a COLLATE {w} AS x FROM s.t",
    "SELECT t.a FROM s.{w}",
    "SELECT {w}(*) AS x FROM s.t",
    "SELECT {w}(DISTINCT t.a) AS x FROM s.t",
]
_MYSQL_TEMPLATES = [t.replace("t.a::{w}", "t.a + 1 {w}") for t in _TEMPLATES] + [
    "SELECT `t`.`a` + interval 1 {w} AS x FROM s.t",
    "SELECT timestampdiff({w}, `t`.`a`, `t`.`{w}`) AS x FROM s.t",
    "SELECT CAST(`t`.`a` AS char charset {w}) AS x FROM s.t",
    "SELECT `t`.`a` not {w} `t`.`{w}` AS x FROM s.t",
]


def _words(dialect: str) -> list[str]:
    sqlglot_dialect = Dialect.get_or_raise(dialect)
    parser = sqlglot_dialect.parser_class
    words = {k.lower() for k in sqlglot_dialect.tokenizer_class.KEYWORDS}
    words |= {k.lower() for k in parser.FUNCTION_PARSERS}
    words |= {k.lower() for k in parser.NO_PAREN_FUNCTION_PARSERS}
    words |= {t.name.lower() for t in parser.NO_PAREN_FUNCTIONS}
    words |= fast._KEYWORDS | fast._EXTRACT_FIELDS["postgres"] | fast._EXTRACT_FIELDS["mysql"]
    words |= {"name", "nfc", "e", "x", "n", "b", "u"}
    return sorted(w for w in words if w.replace("_", "").isalpha())


def _generated(
    sql: str, dialect: str, relations: list[Relation] | RelationIndex, catalog: str | None
) -> bool:
    """``_check`` for generated single-SELECT text, against sqlglot's parse and direct path
    only (the hand-written corpora above run the walk too), with one allowance: the reader
    does not know functions' arities, and where sqlglot rejects a call's argument count, or
    silently discards arguments beyond the ones it knows, the call is one no server prints
    (a definition the server printed calls its functions rightly). Then the reader must keep
    every column sqlglot found."""
    reading = fast.read(sql, dialect)
    if reading is None:
        return False
    query = parse_definition(sql, dialect)
    if isinstance(query, str):
        assert "number of provided arguments" in query or (
            "Required keyword" in query and "missing for <class 'sqlglot.expressions" in query
        ), f"the reader reads what sqlglot cannot parse: {query}"
        return False
    assert sorted(reading.tables) == sorted(referenced_relations(query, dialect))
    columns = query.named_selects
    kwargs: dict[str, Any] = {
        "dialect": dialect, "view_columns": columns, "catalog": catalog, "db": "s",
        "relations": relations,
    }  # fmt: skip
    got, want = parse_view(reading, **kwargs), parse_view(query, **kwargs)
    (select,) = reading.query.branches
    assert isinstance(select, fast._Select)
    refs = sum(len(item.refs) for item in select.items)
    found = sum(1 for node in query.selects for _ in node.find_all(exp.Column))
    if refs > found:  # sqlglot discarded an argument
        assert all(set(want.columns[c]) <= set(got.columns.get(c, ())) for c in want.columns)
        return False
    assert got == want
    return bool(got.columns) and got.problems == ()


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_every_sqlglot_keyword_in_every_place(dialect: str) -> None:
    catalog = "db" if dialect == "postgres" else None
    templates = _TEMPLATES if dialect == "postgres" else _MYSQL_TEMPLATES
    answered = 0
    for word in _words(dialect):
        relations = known_relations(
            [
                Relation("x.db.s.t", catalog, "s", "t", ("a", word)),
                Relation(f"x.db.s.{word}", catalog, "s", word, ("a",)),
            ],
            dialect,
        )
        for template in templates:
            sql = template.format(w=word)
            try:
                answered += _generated(sql, dialect, relations, catalog)
            except AssertionError as exc:
                raise AssertionError(f"{sql}: {exc}") from exc
    assert answered > 1500  # the sweep reaches the reader's answers, not only its declines


@pytest.mark.parametrize("dialect", ["postgres", "mysql"])
def test_sqlglots_special_functions(dialect: str) -> None:
    """Functions sqlglot parses with a grammar of its own: where the reader reads a call to
    one, the columns must be sqlglot's."""
    catalog = "db" if dialect == "postgres" else None
    parser = Dialect.get_or_raise(dialect).parser_class
    names = sorted({n.lower() for n in parser.FUNCTION_PARSERS} | {"date_part", "uuid"})
    relations = [Relation("x.db.s.t", catalog, "s", "t", ("a", "b", "c"))]
    for name in names:
        for args in ("t.a", "t.a, t.b", "t.a, t.b, t.c", "'x', t.b", "t.a FROM t.b", "t.a AS int"):
            sql = f"SELECT {name}({args}) AS x FROM s.t"
            try:
                _generated(sql, dialect, relations, catalog)
            except AssertionError as exc:
                raise AssertionError(f"{sql}: {exc}") from exc


# --- the plumbing: parse_view, referenced_relations, attach_lineage -----------------------


def test_an_unknown_relation_is_left_to_sqlglot_and_says_so() -> None:
    sql = " SELECT o.id,\n    x.y\n   FROM s.orders o\n     JOIN elsewhere.t x ON true"
    reading = fast.read(sql, "postgres")
    assert reading is not None and reading.tables == (("", "s", "orders"), ("", "elsewhere", "t"))
    kwargs: dict[str, Any] = {
        "dialect": "postgres", "view_columns": ["id", "y"], "catalog": "db", "db": "s",
        "relations": PG_RELATIONS,
    }  # fmt: skip
    out = parse_view(sql, **kwargs)
    assert out == parse_view(sql, direct=False, **kwargs)
    assert out.upstream == (ORD,) and out.columns == {}
    assert any("unknown relation elsewhere.t" in p for p in out.problems)


def test_referenced_relations_from_the_reader_leave_ctes_out() -> None:
    sql = "WITH c AS (SELECT b.one FROM s.base b) SELECT c.one FROM c JOIN t ON true"
    reading = fast.read(sql, "postgres")
    assert reading is not None
    assert referenced_relations(reading, "postgres") == [("", "s", "base"), ("", "", "t")]
    assert sorted(referenced_relations(sql, "postgres")) == [("", "", "t"), ("", "s", "base")]


def test_text_that_neither_reads_says_why() -> None:
    out = parse_view(
        "SELECT FROM WHERE (", dialect="postgres", view_columns=["a"], catalog="db", db="s",
        relations=PG_RELATIONS,
    )  # fmt: skip
    assert out.columns == {} and out.problems[0].startswith("cannot parse the view definition")
    assert parse.prepare("SELECT FROM WHERE (", "postgres") == "SELECT FROM WHERE ("


def test_nesting_deeper_than_the_stack_is_declined() -> None:
    sql = "SELECT " + "(" * 5000 + "o.id" + ")" * 5000 + " AS x FROM s.orders o"
    assert fast.read(sql, "postgres") is None


def _view(name: str, definition: str, columns: Sequence[str], schema: DatabaseSchema) -> Table:
    return Table(
        name=name,
        database_schema=schema.fqn,
        table_type=TableType.View,
        view_definition=definition,
        columns=tuple(
            Column(name=c, ordinal_position=i, data_type=DataType.INT, data_type_display="int")
            for i, c in enumerate(columns, 1)
        ),
    )


@pytest.mark.anyio
async def test_attach_lineage_parses_with_sqlglot_only_what_the_reader_declines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = Database(name="db", service="pg")
    schema = DatabaseSchema(name="s", database=database.fqn)
    orders = _view("orders", "", PG_RELATIONS[0].columns, schema).model_copy(
        update={"table_type": TableType.Regular, "view_definition": None}
    )
    read_by_the_reader = _view(
        "v_fast",
        ' SELECT o.id,\n    c."Key" AS k\n   FROM s.orders o\n'
        '     JOIN "Odd Schema"."Odd Table" c ON c."Key" = o.id',
        ["id", "k"],
        schema,
    )
    declined = _view(
        "v_slow",
        ' SELECT o.id,\n    ( SELECT max(c."Key") AS max\n'
        '           FROM "Odd Schema"."Odd Table" c) AS m\n   FROM s.orders o',
        ["id", "m"],
        schema,
    )
    batch = SchemaBatch(database, schema, (orders, read_by_the_reader, declined))
    parsed: list[str] = []
    real = sqlglot.parse_one

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        if "into" not in kwargs:  # a definition, not a column name the lineage walk reads
            parsed.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(sqlglot, "parse_one", counting)
    asked: list[Sequence[tuple[str, str, str]]] = []

    async def fetch(keys: Sequence[tuple[str, str, str]]) -> list[Relation]:
        asked.append(keys)
        return [PG_RELATIONS[2]]

    hand_offs: list[str] = []
    real_hand_off = resolve.in_worker_thread

    async def counting_hand_off(work: Any, *args: Any, **kwargs: Any) -> Any:
        hand_offs.append(work.__name__)
        return await real_hand_off(work, *args, **kwargs)

    monkeypatch.setattr(resolve, "in_worker_thread", counting_hand_off)
    out = await attach_lineage(batch, dialect="postgres", catalog="db", fetch=fetch)
    # only the declined view goes to a worker thread: parsed there, then resolved there
    assert hand_offs == ["parse_declined", "resolve_slow"]
    assert asked == [[("db", "Odd Schema", "Odd Table")]]  # one fetch, both views' needs
    assert parsed == [declined.view_definition]  # once, for the view the reader declines
    lineage = {t.name: t.lineage for t in out.tables if t.lineage is not None}
    odd = PG_RELATIONS[2].fqn
    assert {c.column: c.upstream for c in lineage["v_fast"].columns} == {
        "id": (f"{orders.fqn}.id",),
        "k": (f"{odd}.Key",),
    }
    assert {c.column: c.upstream for c in lineage["v_slow"].columns} == {
        "id": (f"{orders.fqn}.id",),
        "m": (f"{odd}.Key",),
    }
    assert out.issues == ()


@pytest.mark.anyio
async def test_a_definition_that_does_not_parse_is_reported_in_its_own_words() -> None:
    """scan() keeps the text of a definition neither the reader nor sqlglot parses, and the
    warning carries sqlglot's error about that text (it once parsed the error message)."""
    database = Database(name="db", service="pg")
    schema = DatabaseSchema(name="s", database=database.fqn)
    broken = _view("v", "SELECT FROM WHERE (", ["a"], schema)

    async def fetch(keys: Sequence[tuple[str, str, str]]) -> list[Relation]:
        raise AssertionError(keys)  # nothing to look up

    out = await attach_lineage(
        SchemaBatch(database, schema, (broken,)), dialect="postgres", catalog="db", fetch=fetch
    )
    (issue,) = out.issues
    assert issue.message == f"lineage: {parse_definition('SELECT FROM WHERE (', 'postgres')}"


# --- the servers: their stored definitions read back --------------------------------------


@dataclass
class _Corpus:
    relations: list[Relation]
    # (schema, view, definition as the connector reads it, view columns)
    views: dict[tuple[str, str], tuple[str, list[str]]]
    catalog: str | None


# views of every shape, with what the reader must do: answer (True) or decline (False)
PG_SHAPES: dict[str, tuple[bool, str]] = {
    "v_extract": (True, "SELECT o.id, EXTRACT(year FROM o.date) AS y, EXTRACT(epoch FROM"
                  " o.placed) AS e, date_part('year', o.placed) AS dp, EXTRACT(year FROM"
                  " o.placed) AS year FROM s.orders o"),
    "v_casts": (True, "SELECT o.year::text AS t1, o.text::date AS t2, CAST(o.value AS text) AS"
                " value, o.date::timestamp without time zone AS ts, o.amount::numeric(10,2) AS"
                " n, o.note::varchar(5) AS vc, o.\"interval\"::bigint AS iv,"
                " o.amount::double precision AS dp FROM s.orders o"),
    "v_strings": (True, "SELECT substring(o.note from 1 for 2) AS s1, substring(o.note, 2) AS"
                  " s2, trim(both 'x' from o.note) AS tr, position('a' in o.note) AS pos,"
                  " o.note LIKE 'a%' AS l, o.note ILIKE 'a%' AS il, o.note NOT LIKE 'b%' AS nl,"
                  " o.note || o.text AS cat, upper(o.note) AS up, overlay(o.note placing 'x'"
                  " from 1 for 2) AS ov, o.note SIMILAR TO 'a%' AS sim, o.note ~ '^a' AS re"
                  " FROM s.orders o"),
    "v_case": (True, "SELECT o.id, CASE o.value WHEN 1 THEN o.amount WHEN 2 THEN o.year ELSE"
               " NULL END AS c1, CASE WHEN o.amount IS NULL THEN 0 WHEN o.amount BETWEEN 1 AND"
               " 10 THEN o.value ELSE -1 END AS c2, COALESCE(o.note, o.text, 'none') AS c3,"
               " NULLIF(o.value, 0) AS c4, GREATEST(o.value, o.year) AS c5, o.id IN (1, 2, 3)"
               " AS c6, o.id NOT IN (4, 5) AS c7, o.note IS DISTINCT FROM o.text AS c8, NOT"
               " o.id > 5 AS c9 FROM s.orders o"),
    "v_window": (True, "SELECT o.id, row_number() OVER (PARTITION BY o.customer_id ORDER BY"
                 " o.placed DESC NULLS LAST) AS rn, sum(o.amount) OVER (PARTITION BY"
                 " o.customer_id ORDER BY o.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
                 " AS running, lag(o.amount, 1) OVER (ORDER BY o.id) AS prev, avg(o.amount)"
                 " OVER () AS av FROM s.orders o"),
    "v_agg": (True, "SELECT o.customer_id, count(*) AS n, count(DISTINCT o.value) AS k,"
              " sum(o.amount) FILTER (WHERE o.value > 0) AS pos, string_agg(o.note, ',' ORDER"
              " BY o.id) AS notes, array_agg(o.id) AS ids, percentile_cont(0.5) WITHIN GROUP"
              " (ORDER BY o.amount) AS med, max(o.placed) AS last FROM s.orders o GROUP BY"
              " o.customer_id HAVING count(*) > 1"),
    "v_cte": (True, "WITH a AS (SELECT o.id, o.amount FROM s.orders o WHERE o.value > 0), b AS"
              " (SELECT a.id, a.amount * 2 AS dbl FROM a) SELECT b.id, b.dbl, c.name FROM b"
              " JOIN s.customers c ON c.id = b.id"),
    "v_mat": (True, "WITH a AS MATERIALIZED (SELECT o.id FROM s.orders o) SELECT a.id FROM a"),
    "v_derived": (True, "SELECT d.customer_id, d.total, c.region FROM (SELECT o.customer_id,"
                  " sum(o.amount) AS total FROM s.orders o GROUP BY o.customer_id) d LEFT JOIN"
                  " s.customers c ON c.id = d.customer_id"),
    "v_joins": (True, "SELECT o.id, c.name, c2.region FROM s.orders o LEFT JOIN s.customers c ON"
                " c.id = o.customer_id RIGHT JOIN s.customers c2 ON c2.id = o.id FULL JOIN"
                " s.customers c3 ON c3.id = o.id CROSS JOIN s.customers c4 WHERE c4.id = 1"),
    "v_comma": (True, "SELECT o.id, c.name FROM s.orders o, s.customers c WHERE c.id ="
                " o.customer_id"),
    "v_nested": (True, "SELECT o.id, c.name FROM s.orders o LEFT JOIN (s.customers c JOIN"
                 " s.customers c2 ON c2.id = c.id) ON c.id = o.customer_id"),
    "v_union3": (True, "SELECT o.id, o.note FROM s.orders o UNION SELECT c.id, c.name FROM"
                 " s.customers c EXCEPT SELECT o2.value, o2.text FROM s.orders o2 INTERSECT"
                 " SELECT 1, 'x'"),
    "v_unionpar": (True, "(SELECT o.id FROM s.orders o ORDER BY o.id LIMIT 3) UNION ALL (SELECT"
                   " c.id FROM s.customers c) ORDER BY 1 LIMIT 10"),
    "v_distinct_on": (True, "SELECT DISTINCT ON (o.customer_id) o.customer_id, o.amount FROM"
                      " s.orders o ORDER BY o.customer_id, o.amount DESC"),
    "v_odd": (True, 'SELECT t."Key", t."select", t."a.b" AS ab FROM "Odd Schema"."Odd Table" t'),
    "v_odd2": (True, 'SELECT "Odd Table"."Key" FROM "Odd Schema"."Odd Table"'),
    "v_mixed": (True, 'SELECT o."Mixed", o."time", o."interval" FROM s.orders o'),
    "v_single": (True, "SELECT id, amount FROM s.orders"),
    "v_star": (True, "SELECT * FROM s.orders"),
    "v_ts": (True, "SELECT c.created AT TIME ZONE 'UTC' AS utc, date_trunc('day', c.created)"
             " AS d, c.created::date AS cd FROM s.customers c"),
    "v_collate": (True, 'SELECT o.note COLLATE "C" AS n FROM s.orders o'),
    "v_any": (True, "SELECT o.id FROM s.orders o WHERE o.id = ANY (ARRAY[1, 2]) AND o.note <>"
              " ALL (ARRAY['a', 'b'])"),
    "v_limit": (True, "SELECT o.id FROM s.orders o ORDER BY o.id LIMIT 5 OFFSET 2"),
    "v_rollup": (True, "SELECT o.customer_id, o.value, sum(o.amount) AS s FROM s.orders o GROUP"
                 " BY ROLLUP (o.customer_id, o.value)"),
    "v_literals": (True, "SELECT 1 AS one, 'a''b' AS q, E'a\\\\b' AS e, 1.5e3 AS f, NULL::int AS"
                   " nul, true AS t, DATE '2020-01-01' AS d, -5 AS neg, o.id FROM s.orders o"),
    "v_only": (True, "SELECT o.id FROM ONLY s.orders o"),
    "v_arith": (True, "SELECT o.id % 10 AS m, o.amount ^ 2 AS p, o.id & 3 AS b, -o.amount AS"
                " neg, o.id / 2 AS d, abs(o.amount) AS ab FROM s.orders o"),
    "v_selfjoin": (True, "SELECT a.id, b.id AS bid FROM s.orders a JOIN s.orders b ON"
                   " b.customer_id = a.id"),
    "v_alias_kw": (True, "SELECT o.year AS year, o.value AS value, o.date AS date, o.text AS"
                   " text FROM s.orders o"),
    "v_cte_shadow": (True, "WITH orders AS (SELECT c.id, c.name AS note FROM s.customers c)"
                     " SELECT orders.note FROM orders"),
    "v_cte_reuse": (True, "WITH w AS (SELECT o.id FROM s.orders o) SELECT a.id, b.id AS id2"
                    " FROM w a JOIN w b ON a.id = b.id"),
    "v_cast_fn": (True, "SELECT CAST(o.amount AS integer) AS i, o.placed::text AS t,"
                  " to_char(o.placed, 'YYYY') AS yy, o.amount::int::text AS chain FROM"
                  " s.orders o"),
    "v_over_view": (True, "SELECT v.id, v.rn FROM s.v_window v"),
    "v_types2": (True, "SELECT o.placed::timestamp with time zone AS a, o.note::character"
                 " varying AS b, o.amount::real AS c, o.id::smallint AS d, o.id::bit(8) AS e,"
                 ' o.note::"char" AS f, o.note::bpchar AS g, o.id::numeric AS h,'
                 " o.placed::timestamp(3) without time zone AS i, o.note::json AS k FROM"
                 " s.orders o"),
    "v_neg": (True, "SELECT -1 AS a, - o.id AS b, +o.id AS c, o.id - -1 AS d FROM s.orders o"),
    "v_date_lit": (True, "SELECT o.id FROM s.orders o WHERE o.placed > DATE '2020-01-01' AND"
                   " o.placed < now() - INTERVAL '3 days'"),
    "v_scalar": (False, "SELECT o.id, (SELECT max(c.name) FROM s.customers c) AS m FROM"
                 " s.orders o"),
    "v_exists": (False, "SELECT o.id FROM s.orders o WHERE EXISTS (SELECT 1 FROM s.customers c"
                 " WHERE c.id = o.customer_id)"),
    "v_insub": (False, "SELECT o.id FROM s.orders o WHERE o.customer_id IN (SELECT c.id FROM"
                " s.customers c)"),
    "v_using": (False, "SELECT o.id, c.name FROM s.orders o JOIN s.customers c USING (id)"),
    "v_natural": (False, "SELECT o.amount FROM s.orders o NATURAL JOIN s.customers c"),
    "v_lateral": (False, "SELECT o.id, l.x FROM s.orders o, LATERAL (SELECT o.amount * 2 AS x)"
                  " l"),
    "v_srf": (False, "SELECT g.g FROM generate_series(1, 3) g(g)"),
    "v_values": (False, "SELECT v.a FROM (VALUES (1), (2)) v(a)"),
    "v_recursive": (False, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT r.n + 1 FROM r"
                    " WHERE r.n < 3) SELECT r.n FROM r"),
    "v_window_named": (False, "SELECT o.id, sum(o.amount) OVER w AS s FROM s.orders o WINDOW w"
                       " AS (PARTITION BY o.customer_id)"),
    "v_json": (False, "SELECT o.payload -> 'a' AS a, o.payload ->> 'b' AS b, o.tags[1] AS t1"
               " FROM s.orders o"),
    "v_interval_fn": (False, "SELECT o.placed + make_interval(days => o.value) AS later FROM"
                      " s.orders o"),
    "v_current": (False, "SELECT CURRENT_USER AS u, USER AS us, o.id FROM s.orders o"),
    "v_tablekw": (False, "SELECT year.id FROM s.orders year"),
    "v_fetch": (False, "SELECT o.id FROM s.orders o ORDER BY o.id FETCH FIRST 5 ROWS WITH TIES"),
    "v_xmin": (False, "SELECT o.xmin, o.id FROM s.orders o"),  # a system column: not known
}  # fmt: skip
PG_SHAPES_DDL = [
    'CREATE SCHEMA s; CREATE SCHEMA "Odd Schema"',
    "CREATE TABLE s.orders (id int PRIMARY KEY, customer_id int, amount numeric, placed date,"
    ' note text, year int, date date, text text, value int, "interval" int, "time" time,'
    ' payload jsonb, tags text[], "Mixed" int)',
    "CREATE TABLE s.customers (id int PRIMARY KEY, name text, region text, created timestamptz)",
    'CREATE TABLE "Odd Schema"."Odd Table" ("Key" int, "select" int, "a.b" text)',
]

MARIA_SHAPES: dict[str, tuple[bool, str]] = {
    "v_extract": (True, "SELECT o.id, EXTRACT(year FROM o.date) AS y, extract(year_month from"
                  " o.placed) AS ym, year(o.placed) AS yr, EXTRACT(year FROM o.placed) AS year"
                  " FROM {s}.orders o"),
    "v_casts": (True, "SELECT cast(o.year as char) AS t1, cast(o.`text` as date) AS t2,"
                " CAST(o.value AS char(10)) AS value, cast(o.amount as decimal(10,2)) AS n,"
                " cast(o.value as signed) AS sg, cast(o.value as unsigned) AS us,"
                " cast(o.placed as datetime) AS dt, convert(o.note, char) AS cv,"
                " cast(o.`interval` as double) AS d FROM {s}.orders o"),
    "v_interval": (True, "SELECT o.placed + interval 1 day AS tomorrow, date_add(o.placed,"
                   " interval o.value day) AS later, date_sub(o.placed, INTERVAL 2 HOUR) AS"
                   " earlier, curdate() - interval 1 month AS m, now() AS n, current_timestamp"
                   " AS ct, current_date AS cd, timestampdiff(DAY, o.placed, o.date) AS diff"
                   " FROM {s}.orders o"),
    "v_strings": (True, "SELECT substring(o.note, 1, 2) AS s1, substr(o.note from 2 for 3) AS"
                  " s2, trim(both 'x' from o.note) AS tr, locate('a', o.note) AS pos, o.note"
                  " LIKE 'a%' AS l, o.note NOT LIKE 'b%' AS nl, concat(o.note, o.`text`) AS cat,"
                  " upper(o.note) AS up, o.note REGEXP '^a' AS re, group_concat(o.note separator"
                  " ',') AS gc, _utf8mb4'abc' AS lit, 'it''s' AS q, 'back\\\\slash' AS b,"
                  " concat_ws('-', o.note, 'x') AS cw FROM {s}.orders o"),
    "v_case": (True, "SELECT o.id, CASE o.value WHEN 1 THEN o.amount WHEN 2 THEN o.year ELSE"
               " NULL END AS c1, CASE WHEN o.amount IS NULL THEN 0 WHEN o.amount BETWEEN 1 AND"
               " 10 THEN o.value ELSE -1 END AS c2, COALESCE(o.note, o.`text`, 'none') AS c3,"
               " NULLIF(o.value, 0) AS c4, GREATEST(o.value, o.year) AS c5, o.id IN (1, 2, 3)"
               " AS c6, o.id NOT IN (4, 5) AS c7, o.note <=> o.`text` AS c8, NOT o.id > 5 AS"
               " c9, if(o.value > 0, o.amount, o.year) AS c10, ifnull(o.note, 'x') AS c11 FROM"
               " {s}.orders o"),
    "v_window": (True, "SELECT o.id, row_number() OVER (PARTITION BY o.customer_id ORDER BY"
                 " o.placed DESC) AS rn, sum(o.amount) OVER (PARTITION BY o.customer_id ORDER"
                 " BY o.id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running,"
                 " lag(o.amount, 1) OVER (ORDER BY o.id) AS prev, avg(o.amount) OVER () AS av"
                 " FROM {s}.orders o"),
    "v_agg": (True, "SELECT o.customer_id, count(*) AS n, count(DISTINCT o.value) AS k,"
              " max(o.placed) AS last, group_concat(DISTINCT o.note ORDER BY o.id DESC SEPARATOR"
              " ';') AS notes, sum(o.amount) AS s FROM {s}.orders o GROUP BY o.customer_id"
              " HAVING count(*) > 1"),
    "v_cte": (True, "WITH a AS (SELECT o.id, o.amount FROM {s}.orders o WHERE o.value > 0), b AS"
              " (SELECT a.id, a.amount * 2 AS dbl FROM a) SELECT b.id, b.dbl, c.name FROM b"
              " JOIN {s}.customers c ON c.id = b.id"),
    "v_derived": (True, "SELECT d.customer_id, d.total, c.region FROM (SELECT o.customer_id,"
                  " sum(o.amount) AS total FROM {s}.orders o GROUP BY o.customer_id) d LEFT JOIN"
                  " {s}.customers c ON c.id = d.customer_id"),
    "v_joins": (True, "SELECT o.id, c.name, c2.region FROM {s}.orders o LEFT JOIN {s}.customers"
                " c ON c.id = o.customer_id RIGHT JOIN {s}.customers c2 ON c2.id = o.id CROSS"
                " JOIN {s}.customers c4 WHERE c4.id = 1"),
    "v_comma": (True, "SELECT o.id, c.name FROM {s}.orders o, {s}.customers c WHERE c.id ="
                " o.customer_id"),
    "v_nested": (True, "SELECT o.id, c.name FROM {s}.orders o LEFT JOIN ({s}.customers c JOIN"
                 " {s}.customers c2 ON c2.id = c.id) ON c.id = o.customer_id"),
    "v_union3": (True, "SELECT o.id, o.note FROM {s}.orders o UNION SELECT c.id, c.name FROM"
                 " {s}.customers c EXCEPT SELECT o2.value, o2.`text` FROM {s}.orders o2"
                 " INTERSECT SELECT 1, 'x'"),
    "v_unionpar": (True, "(SELECT o.id FROM {s}.orders o ORDER BY o.id LIMIT 3) UNION ALL"
                   " (SELECT c.id FROM {s}.customers c) ORDER BY 1 LIMIT 10"),
    "v_distinct": (True, "SELECT DISTINCT o.customer_id FROM {s}.orders o"),
    "v_using": (True, "SELECT o.id, c.name FROM {s}.orders o JOIN {s}.customers c USING (id)"),
    "v_odd": (True, "SELECT t.`Key`, t.`select`, t.`a.b` AS ab, t.`back``tick` AS bt FROM"
              " {s2}.`Odd Table` t"),
    "v_mixed": (True, "SELECT o.`Mixed`, o.`time`, o.`interval` FROM {s}.orders o"),
    "v_single": (True, "SELECT id, amount FROM {s}.orders"),
    "v_star": (True, "SELECT * FROM {s}.orders"),
    "v_limit": (True, "SELECT o.id FROM {s}.orders o ORDER BY o.id LIMIT 5 OFFSET 2"),
    "v_rollup": (True, "SELECT o.customer_id, sum(o.amount) AS s FROM {s}.orders o GROUP BY"
                 " o.customer_id WITH ROLLUP"),
    "v_bool": (True, "SELECT o.id, o.amount > 0 AND o.value < 3 OR o.note IS NOT NULL AS b,"
               " o.value IS TRUE AS t, o.value XOR o.id AS x, o.value DIV 2 AS dv, o.value % 3"
               " AS md FROM {s}.orders o"),
    "v_selfjoin": (True, "SELECT a.id, b.id AS bid FROM {s}.orders a JOIN {s}.orders b ON"
                   " b.customer_id = a.id"),
    "v_alias_kw": (True, "SELECT o.year AS year, o.value AS value, o.date AS date, o.`text` AS"
                   " `text` FROM {s}.orders o"),
    "v_tablekw": (True, "SELECT year.id FROM {s}.orders year"),
    "v_cte_shadow": (True, "WITH orders AS (SELECT c.id, c.name AS note FROM {s}.customers c)"
                     " SELECT orders.note FROM orders"),
    "v_cte_reuse": (True, "WITH w AS (SELECT o.id FROM {s}.orders o) SELECT a.id, b.id AS id2"
                    " FROM w a JOIN w b ON a.id = b.id"),
    "v_over_view": (True, "SELECT v.id, v.rn FROM {s}.v_window v"),
    "v_current": (True, "SELECT current_user() AS u, user() AS us, database() AS db, o.id,"
                  " unix_timestamp() AS ut, utc_timestamp() AS utc FROM {s}.orders o"),
    "v_neg": (True, "SELECT -1 AS a, - o.id AS b, o.id - -1 AS d, ~o.id AS inv, !o.id AS bang"
              " FROM {s}.orders o"),
    "v_date_fns": (True, "SELECT date_format(o.placed, '%Y') AS df, str_to_date(o.note, '%Y')"
                   " AS sd, datediff(o.placed, o.date) AS dd, dayname(o.placed) AS dn,"
                   " last_day(o.placed) AS ld, month(o.placed) AS mo FROM {s}.orders o"),
    "v_unqual": (True, "SELECT id, customer_id + 1 AS c FROM {s}.orders WHERE amount > 0"),
    "v_derived_union": (True, "SELECT u.id FROM (SELECT id FROM {s}.orders UNION SELECT id FROM"
                        " {s}.customers) u"),
    "v_schemafn": (True, "SELECT {s}.f1(o.id) AS f FROM {s}.orders o"),
    "v_scalar": (False, "SELECT o.id, (SELECT max(c.name) FROM {s}.customers c) AS m FROM"
                 " {s}.orders o"),
    "v_exists": (False, "SELECT o.id FROM {s}.orders o WHERE EXISTS (SELECT 1 FROM"
                 " {s}.customers c WHERE c.id = o.customer_id)"),
    "v_insub": (False, "SELECT o.id FROM {s}.orders o WHERE o.customer_id IN (SELECT c.id FROM"
                " {s}.customers c)"),
    "v_recursive": (False, "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT r.n + 1 FROM r"
                    " WHERE r.n < 3) SELECT r.n FROM r"),
    "v_straight": (False, "SELECT o.id FROM {s}.orders o STRAIGHT_JOIN {s}.customers c ON c.id ="
                   " o.id"),
    "v_index": (False, "SELECT o.id FROM {s}.orders o USE INDEX (PRIMARY)"),
    "v_charset": (False, "SELECT convert(o.note using utf8mb4) AS c, o.note AS n FROM"
                  " {s}.orders o"),
    "v_hex": (False, "SELECT X'41' AS xx, o.id FROM {s}.orders o"),
}  # fmt: skip


def _maria_shapes_ddl(s: str, s2: str) -> list[str]:
    qs, qs2 = quote_mysql(s), quote_mysql(s2)
    out = [
        f"CREATE TABLE {qs}.orders (id int PRIMARY KEY, customer_id int, amount decimal(10,2),"
        " placed date, note text, year int, date date, `text` text, value int, `interval` int,"
        " `time` time, payload json, `Mixed` int, created datetime)",
        f"CREATE TABLE {qs}.customers (id int PRIMARY KEY, name varchar(50), region text,"
        " created timestamp NULL)",
        f"CREATE TABLE {qs2}.`Odd Table` (`Key` int, `select` int, `a.b` text, `back``tick` int)",
        f"CREATE FUNCTION {qs}.f1(x int) RETURNS int DETERMINISTIC RETURN x + 1",
    ]
    return out + [
        f"CREATE VIEW {qs}.{name} AS {sql.format(s=qs, s2=qs2)}"
        for name, (_, sql) in MARIA_SHAPES.items()
    ]


def _pg_corpus(server: PgServer, database: str) -> _Corpus:
    rows = server.run(
        database,
        """
        SELECT n.nspname AS schema, c.relname AS name,
               CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS sql,
               array(SELECT a.attname FROM pg_attribute a WHERE a.attrelid = c.oid
                     AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) AS columns
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'v', 'm', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg_toast%'
        """,
    )
    relations = [
        Relation(build_fqn("pg", database, r["schema"], r["name"]), database, r["schema"],
                 r["name"], tuple(r["columns"]))
        for r in rows
    ]  # fmt: skip
    views = {
        (r["schema"], r["name"]): (view_query(r["sql"]) or "", list(r["columns"]))
        for r in rows
        if r["sql"]
    }
    return _Corpus(relations, views, database)


def _maria_corpus(server: MysqlServer, schemas: list[str]) -> _Corpus:
    names = ", ".join(f"'{s}'" for s in schemas)
    columns: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in server.run(
        "SELECT table_schema, table_name, column_name FROM information_schema.columns"
        f" WHERE table_schema IN ({names}) ORDER BY table_schema, table_name, ordinal_position"
    ):
        columns.setdefault((schema, table), []).append(column)
    rows = server.run(
        "SELECT table_schema, table_name, view_definition FROM information_schema.views"
        f" WHERE table_schema IN ({names})"
    )
    relations = [
        Relation(build_fqn("m", "default", s, t), None, s, t, tuple(c))
        for (s, t), c in columns.items()
    ]
    views = {(s, t): (sql, columns[(s, t)]) for s, t, sql in rows}
    return _Corpus(relations, views, None)


@pytest.fixture(scope="module")
def pg_corpus(postgres_server: PgServer) -> Iterator[_Corpus]:
    """A database of the shapes, test_lineage's views and a small benchmark catalog."""
    database = unique_name("mi_test_fast_")
    postgres_server.run("postgres", f'CREATE DATABASE "{database}"')
    try:
        size = CatalogSize(3, 8, 6)
        bench = [s for i in range(3) for s in ddl_for_schema("postgres", size, i)]
        shapes = [f"CREATE VIEW s.{name} AS {sql}" for name, (_, sql) in PG_SHAPES.items()]
        script = ";\n".join([PG_DDL, *bench, *PG_SHAPES_DDL, *shapes])
        anyio.run(pg_execute, postgres_server, database, script)
        yield _pg_corpus(postgres_server, database)
    finally:
        postgres_server.run("postgres", f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="module")
def maria_corpus(mysql_server: MysqlServer) -> Iterator[tuple[_Corpus, list[str]]]:
    prefix = unique_name("mi_test_fast_")
    shapes, odd, lineage_a, lineage_b = (f"{prefix}_{n}" for n in ("s", "s2", "a", "b"))
    size = CatalogSize(3, 8, 6)
    bench_name = size.schema_name("mariadb", 0)[:-4]  # mi_bench_3x8x6_s
    bench = [f"{prefix}_b{i:04d}" for i in range(3)]
    schemas = [shapes, odd, lineage_a, lineage_b, *bench]
    try:
        mysql_server.run(
            *(f"CREATE DATABASE {quote_mysql(s)} CHARACTER SET utf8mb4" for s in schemas[:4])
        )
        statements = [
            s.replace(bench_name, f"{prefix}_b")
            for i in range(3)
            for s in ddl_for_schema("mariadb", size, i)
        ]
        mysql_server.run(
            "SET SESSION foreign_key_checks = 0",
            *statements,
            *_maria_ddl(lineage_a, lineage_b),
            *_maria_shapes_ddl(shapes, odd),
        )
        yield _maria_corpus(mysql_server, schemas), [shapes, *bench]
    finally:  # the benchmark's schemas reference each other's tables
        mysql_server.run(
            "SET SESSION foreign_key_checks = 0",
            *(f"DROP DATABASE IF EXISTS {quote_mysql(s)}" for s in schemas),
        )


def _differential(corpus: _Corpus, dialect: str) -> dict[tuple[str, str], bool]:
    out = {}
    for (schema, name), (sql, columns) in sorted(corpus.views.items()):
        try:
            out[(schema, name)] = _check(
                sql, dialect, corpus.relations, corpus.catalog, schema, columns
            )
        except AssertionError as exc:
            raise AssertionError(f"{schema}.{name}: {sql!r}: {exc}") from exc
    return out


_BENCH_VIEWS = {"v_0", "v_1", "v_2", "v_agg", "v_union", "v_window"}


@pytest.mark.postgres
def test_postgresql_stored_definitions(pg_corpus: _Corpus) -> None:
    answered = _differential(pg_corpus, "postgres")
    bench = {k: v for k, v in answered.items() if k[0].startswith("mi_bench_s")}
    assert len(bench) == 3 * 7 and all(bench.values())  # the generated views, mv_0 too
    lineage = {k[1]: v for k, v in answered.items() if k[0] in ("sales", "Mixed Schema")}
    assert lineage == {
        "order_names": True, "all_orders": True, "flags": True, "totals": True,
        "best": False,  # a scalar subquery
        "ids": True, "names_upper": True, "items": True, "daily": True, "Recent": True,
        "constant": True,
    }  # fmt: skip
    shapes = {k[1]: v for k, v in answered.items() if k[0] == "s"}
    assert shapes == {name: must for name, (must, _) in PG_SHAPES.items()}


@pytest.mark.mysql
def test_mariadb_stored_definitions(maria_corpus: tuple[_Corpus, list[str]]) -> None:
    corpus, (shapes_schema, *bench) = maria_corpus
    answered = _differential(corpus, "mysql")
    generated = {k: v for k, v in answered.items() if k[0] in bench}
    assert len(generated) == 3 * 6 and all(generated.values())
    assert {k[1]: v for k, v in answered.items() if k[0] == shapes_schema} == {
        name: must for name, (must, _) in MARIA_SHAPES.items()
    }
    lineage = {k[1]: v for k, v in answered.items() if k[0] not in (shapes_schema, *bench)}
    assert lineage == dict.fromkeys(("joined", "star", "cased", "agg", "cte", "ids", "over"), True)


@pytest.mark.postgres
def test_a_run_over_the_generated_views_parses_nothing_with_sqlglot(
    pg_corpus: _Corpus,
    postgres_server: PgServer,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The whole lineage of the benchmark's views comes from the reader: attach_lineage's
    scan and its parse_view call sqlglot's parser for none of them."""
    parsed: list[str] = []
    real = sqlglot.parse_one

    def counting(sql: str, *args: Any, **kwargs: Any) -> Any:
        if "into" not in kwargs:  # a definition, not a column name the lineage walk reads
            parsed.append(sql)
        return real(sql, *args, **kwargs)

    monkeypatch.setattr(sqlglot, "parse_one", counting)

    async def no_hand_off(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a reader-answered view left the event loop's thread")

    # every step of these views runs on the loop's thread: no worker-thread hand-off
    monkeypatch.setattr(resolve, "in_worker_thread", no_hand_off)
    source = postgres_server.source(
        pg_corpus.catalog, include_lineage=True, schema_filter={"includes": ["^mi_bench_s"]}
    )
    out = tmp_path / "o.jsonl"
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out)}})

    async def run() -> dict[str, ViewLineage]:
        views = {}
        async with Workflow(config).stream() as batches:
            async for batch in batches:
                assert [i for i in batch.issues if "lineage" in i.message] == []
                views.update({t.name: t.lineage for t in batch.tables if t.lineage})
        return views

    views = anyio.run(run)
    assert set(views) == _BENCH_VIEWS | {"mv_0"}
    assert parsed == []
    assert all(v.source == "catalog+parsed" and v.columns for v in views.values())
