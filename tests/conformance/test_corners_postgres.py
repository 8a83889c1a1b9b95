"""PostgreSQL corners on the real server: unique indexes, and output that no session setting
of the connecting role changes (time zone, date and interval styles, float digits,
search_path), including the lineage case of a view over ``public.t`` beside ``s2.t``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from metaingest.entities import ConstraintType, DataType, Table, UniqueIndex
from tests.conftest import PgServer, unique_name
from tests.faultkit import pg_execute, pg_side

from .corners import extract, run_to_file

pytestmark = [pytest.mark.postgres, pytest.mark.anyio]

DDL = """
CREATE SCHEMA s2;
CREATE EXTENSION citext SCHEMA public;
CREATE EXTENSION hstore SCHEMA s2;
CREATE TABLE s2.ext (c public.citext, h s2.hstore, cs public.citext[]);
CREATE TABLE public.t (a integer, b text);
CREATE TABLE s2.t (a integer);
CREATE VIEW s2.v AS SELECT a FROM public.t;
CREATE TYPE public.colour AS ENUM ('red', 'blue');
CREATE SEQUENCE public.ids;
CREATE TABLE s2.settings (
    id bigint DEFAULT nextval('public.ids'),
    colour public.colour DEFAULT 'red',
    since date DEFAULT '2024-03-01',
    at timestamptz DEFAULT '2024-03-01 00:00:00+00',
    span interval DEFAULT '1 day 02:00:00',
    ratio double precision DEFAULT 0.1,
    cost money DEFAULT 12.5,
    raw bytea DEFAULT '\\x0102'
);
CREATE TABLE s2.log (at timestamptz NOT NULL, msg text) PARTITION BY RANGE (at);
CREATE TABLE s2.log_2024 PARTITION OF s2.log
    FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00');
CREATE TABLE s2.u (
    a integer, b text, c integer, d integer,
    CONSTRAINT u_a_key UNIQUE (a)
);
CREATE UNIQUE INDEX u_b_idx ON s2.u (b);
CREATE UNIQUE INDEX u_c_d_idx ON s2.u (c, d) INCLUDE (a);
CREATE UNIQUE INDEX u_lower_b_idx ON s2.u (lower(b), c);
CREATE UNIQUE INDEX u_d_partial_idx ON s2.u (d) WHERE a > 0;
CREATE INDEX u_plain_idx ON s2.u (d);
"""

ROLE_SETTINGS = (
    "timezone = 'Asia/Tokyo'",
    "datestyle = 'SQL, DMY'",
    "intervalstyle = 'sql_standard'",
    "extra_float_digits = 0",
    "search_path = s2, public",
    "bytea_output = 'escape'",
    "quote_all_identifiers = on",
)


@pytest.fixture(scope="module")
def database(postgres_server: PgServer) -> Iterator[str]:
    name = postgres_server.create_database()
    try:
        anyio.run(pg_execute, postgres_server, name, DDL)
        yield name
    finally:
        postgres_server.drop_database(name)


@pytest.fixture(scope="module")
def odd_role(postgres_server: PgServer) -> Iterator[str]:
    """A throwaway login role whose own settings differ from every default that prints."""
    role = unique_name("mi_role_")
    postgres_server.run(
        "postgres",
        f'CREATE ROLE "{role}" LOGIN',
        *(f'ALTER ROLE "{role}" SET {setting}' for setting in ROLE_SETTINGS),
    )
    try:
        yield role
    finally:
        postgres_server.run("postgres", f'DROP ROLE IF EXISTS "{role}"')


def _source(server: PgServer, database: str, **extra: str) -> dict[str, object]:
    return server.source(
        database, schema_filter={"includes": ["^(s2|public)$"], "excludes": []}, **extra
    )


async def test_unique_indexes(postgres_server: PgServer, database: str) -> None:
    tables = await extract(_source(postgres_server, database))
    table: Table = tables["s2.u"]
    assert [(c.constraint_type, c.name, c.columns, c.from_index) for c in table.constraints] == [
        (ConstraintType.UNIQUE, "u_a_key", ("a",), None),
        (ConstraintType.UNIQUE, "u_b_idx", ("b",), True),
        (ConstraintType.UNIQUE, "u_c_d_idx", ("c", "d"), True),  # INCLUDE a: not in the key
    ]
    assert table.unique_indexes == (
        UniqueIndex(name="u_d_partial_idx", columns=("d",), predicate="a > 0"),
        UniqueIndex(name="u_lower_b_idx", columns=(None, "c"), expressions=("lower(b)",)),
    )
    payload = table.to_openmetadata()
    assert [c["constraintType"] for c in payload["tableConstraints"]] == ["UNIQUE"] * 3
    assert [c.get("constraint") for c in payload["columns"][:2]] == ["UNIQUE", "UNIQUE"]


async def test_view_names_are_qualified_whatever_the_search_path(
    postgres_server: PgServer, database: str, odd_role: str
) -> None:
    """``FROM public.t``, never ``FROM t``: a reader would resolve that to ``s2.t``."""
    for user in (postgres_server.user, odd_role):
        tables = await extract(_source(postgres_server, database, username=user))
        view = tables["s2.v"]
        assert view.view_definition == "SELECT t.a\n   FROM public.t"
        statement = view.to_openmetadata()["schemaDefinition"]
        assert statement == "CREATE VIEW s2.v AS SELECT t.a\n   FROM public.t"
        columns = {c.name: c for c in tables["s2.settings"].columns}
        assert columns["id"].default == "nextval('public.ids'::regclass)"
        assert columns["colour"].data_type_display == "public.colour"


async def test_output_does_not_depend_on_the_roles_settings(
    postgres_server: PgServer, database: str, odd_role: str, tmp_path: Path
) -> None:
    async with pg_side(postgres_server, database, user=odd_role) as conn:
        # the role's settings do reach a plain session: without pinning they would print
        assert await conn.fetchval("SHOW TimeZone") == "Asia/Tokyo"
        assert await conn.fetchval("SHOW DateStyle") == "SQL, DMY"
        assert await conn.fetchval("SHOW search_path") == "s2, public"
    outputs = []
    for user in (postgres_server.user, odd_role):
        out = tmp_path / f"{user}.jsonl"
        report = await run_to_file(_source(postgres_server, database, username=user), out)
        assert report.exit_code() == 0, report.issues
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    tables = await extract(_source(postgres_server, database, username=odd_role))
    bound = tables["s2.log_2024"].partition_bound
    assert bound == ("FOR VALUES FROM ('2024-01-01 00:00:00+00') TO ('2025-01-01 00:00:00+00')")
    defaults = {c.name: c.default for c in tables["s2.settings"].columns}
    assert defaults["since"] == "'2024-03-01'::date"
    assert defaults["at"] == "'2024-03-01 00:00:00+00'::timestamp with time zone"
    assert defaults["span"] == "'1 day 02:00:00'::interval"
    assert defaults["ratio"] == "0.1"
    assert defaults["raw"] == "'\\x0102'::bytea"


async def test_extension_types_outside_pg_catalog(postgres_server: PgServer, database: str) -> None:
    """Qualified by the empty search_path, an extension's type is still recognised."""
    tables = await extract(_source(postgres_server, database))
    got = [
        (c.name, c.data_type_display, c.data_type, c.array_data_type)
        for c in tables["s2.ext"].columns
    ]
    assert got == [
        ("c", "public.citext", DataType.TEXT, None),
        ("h", "s2.hstore", DataType.MAP, None),
        ("cs", "public.citext[]", DataType.ARRAY, DataType.TEXT),
    ]
