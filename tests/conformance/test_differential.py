"""Native ``postgres`` and generic ``sqlalchemy`` (postgresql+asyncpg) on one rich database.

Both connectors read tests/fixtures/postgres_catalog.sql (every relation kind, domains,
enums, arrays, partitions, awkward names). They must agree on every table (presence, kind,
comment), column (names in order, position, nullability, DataType, array item type, length,
precision, scale, default, generation expression, identity, comment) and PRIMARY KEY /
UNIQUE / FOREIGN KEY constraint. Every disagreement is either an ``ALLOWED`` difference,
named with its reason, or a ``KNOWN_BUGS`` entry, which is a strict xfail of its own;
anything else fails, and so does an allow-list entry that no longer occurs. View
definitions are not compared: both are pg_get_viewdef, pretty-printed or not.

MariaDB: tests/test_mysql.py::test_differential_with_sqlalchemy_reflection compares the
native connector with SQLAlchemy's MariaDB reflection on names, order, nullability, default,
comments and the three constraint kinds, but not DataType or which tables exist; those are
held to one expectation for both the ``mysql`` and ``sqlalchemy-mysql+aiomysql`` cases of
test_conformance.py (on the conformance catalog, not on mysql_catalog.sql).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy.exc import SAWarning

from metaingest.config import parse_config
from metaingest.entities import Column, DataType, Table, TableConstraint, TableType
from metaingest.workflow import Workflow
from tests.conftest import PgServer

pytestmark = pytest.mark.postgres

FIXTURE = Path(__file__).parents[1] / "fixtures" / "postgres_catalog.sql"
COLUMN_FIELDS = (
    "ordinal_position",
    "nullable",
    "data_type",
    "array_data_type",
    "data_length",
    "precision",
    "scale",
    "default",
    "generated",
    "identity",
    "description",
)


@dataclass(frozen=True)
class Difference:
    """One cell where the connectors disagree: (schema.table, column or "", field)."""

    table: str
    column: str
    field: str
    native: Any
    generic: Any


@dataclass(frozen=True)
class Allowed:
    """A difference the connectors may keep, and why."""

    difference: Difference
    reason: str


def _d(table: str, column: str, field: str, native: Any, generic: Any) -> Difference:
    return Difference(table, column, field, native, generic)


def _clone(n: int, table: str) -> Difference:
    fk = (("event_id", "event_kind", "event_at"), table, ("id", "kind", "happened_at"))
    return _d(
        "sales.event_notes",
        "",
        f"FOREIGN_KEY event_notes_event_id_event_kind_event_at_fkey{n}",
        None,
        fk,
    )


_NO_PARTITION_KIND = (
    "SQLAlchemy's Inspector has no partitioned or foreign table kind: every table is Regular"
)
ALLOWED = (
    *(
        Allowed(
            _d(t, "", "table_type", TableType.Partitioned, TableType.Regular), _NO_PARTITION_KIND
        )
        for t in ("sales.events", "sales.events_2024_02", "sales.readings")
    ),
    Allowed(
        _d("sales.remote_rates", "", "table_type", TableType.Foreign, TableType.Regular),
        _NO_PARTITION_KIND,
    ),
    Allowed(
        _d("sales.customers", "flag", "data_type", DataType.CHAR, DataType.VARCHAR),
        'SQLAlchemy reflects PostgreSQL\'s internal one-byte "char" type as String',
    ),
    Allowed(
        _d("sales.customers", "address", "data_type", DataType.STRUCT, DataType.UNKNOWN),
        "SQLAlchemy does not reflect composite types (NullType, with an SAWarning)",
    ),
    Allowed(
        _d("sales.customers", "tiny", "nullable", False, True),
        "SQLAlchemy applies only the column's own domain's NOT NULL; tiny_code's comes from "
        "short_code, the domain under it",
    ),
    *(
        Allowed(
            _clone(n, table),
            "SQLAlchemy lists the per-partition clones (pg_constraint.conparentid set) of a "
            "foreign key to a partitioned table; the native connector keeps the declared one",
        )
        for n, table in enumerate(
            (
                "pg.DB.sales.events_2024_01",
                "pg.DB.sales.events_2024_02",
                "pg.DB.sales.events_2024_02_click",
                "pg.DB.Mixed Case.Events Default",
            ),
            1,
        )
    ),
)

_DOMAIN = (
    "sqlalchemy connector bug: a domain column reflects as postgresql.DOMAIN, which types.py "
    "maps to UNKNOWN instead of using DOMAIN.data_type (its base type and length)"
)
KNOWN_BUGS = {
    "domain-types": (
        _DOMAIN,
        (
            _d("sales.customers", "code", "data_type", DataType.VARCHAR, DataType.UNKNOWN),
            _d("sales.customers", "code", "data_length", 8, None),
            _d("sales.customers", "tiny", "data_type", DataType.VARCHAR, DataType.UNKNOWN),
            _d("sales.customers", "tiny", "data_length", 8, None),
            _d("sales.customers", "quantity", "data_type", DataType.INT, DataType.UNKNOWN),
            _d("sales.customers", "quantities", "array_data_type", DataType.INT, DataType.UNKNOWN),
            _d("sales.order_lines", "quantity", "data_type", DataType.INT, DataType.UNKNOWN),
        ),
    ),
    "range-types": (
        "sqlalchemy connector bug: types.SQLALCHEMY_NAMES has no tsrange/tstzrange/daterange, "
        "so postgresql.TSTZRANGE becomes UNKNOWN instead of DATETIMERANGE",
        (_d("sales.customers", "during", "data_type", DataType.DATETIMERANGE, DataType.UNKNOWN),),
    ),
    "bit-length": (
        "sqlalchemy connector bug: types.sqlalchemy_type takes no length from postgresql.BIT "
        "(bit varying(16) has data_length 16 natively, None generically)",
        (_d("sales.customers", "bits", "data_length", 16, None),),
    ),
    "array-item-length": (
        "sqlalchemy connector bug: types.sqlalchemy_type ignores ARRAY(VARCHAR(5)).item_type's "
        "length; the native connector reports the element's typmod as data_length",
        (_d("sales.customers", "codes", "data_length", 5, None),),
    ),
    "dropped-column-position": (
        "postgres connector bug: ordinal_position is attnum, so a column after a dropped one "
        "keeps the gap (kept is 3, not 2); the generic connector counts live columns",
        (_d('ünïcödé."quoted" table', "kept", "ordinal_position", 3, 2),),
    ),
}


def _load(server: PgServer, database: str) -> None:
    async def go() -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=server.host, port=server.port, user=server.user, database=database
        )
        try:
            await conn.execute(FIXTURE.read_text(encoding="utf-8"))  # one multi-statement script
        finally:
            await conn.close()

    anyio.run(go)


async def _collect(source: dict[str, Any]) -> dict[str, Table]:
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": "unused.jsonl"}})
    workflow = Workflow(config)
    async with workflow.stream() as batches:
        tables = {f"{b.schema.name}.{t.name}": t async for b in batches for t in b.tables}
    assert workflow.report.issues == [], workflow.report.issues
    return tables


@pytest.fixture(scope="module")
def both(postgres_server: PgServer) -> Iterator[tuple[str, dict[str, Table], dict[str, Table]]]:
    """(database, native tables, generic tables), each by ``schema.table``."""
    server = postgres_server
    database = server.create_database()
    try:
        _load(server, database)
        native = anyio.run(_collect, server.source(database))
        url = f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/{database}"
        with warnings.catch_warnings():
            # the one composite-type column (ALLOWED); any other SAWarning still fails
            warnings.filterwarnings(
                "ignore", "Did not recognize type 'sales.address'", category=SAWarning
            )
            generic = anyio.run(_collect, {"type": "sqlalchemy", "url": url, "service_name": "pg"})
        yield database, native, generic
    finally:
        server.drop_database(database)


def _constraints(table: Table) -> dict[str, tuple[Any, ...]]:
    def value(c: TableConstraint) -> tuple[Any, ...]:
        return (
            (c.columns, c.referred_table, c.referred_columns) if c.referred_table else (c.columns,)
        )

    return {f"{c.constraint_type.value} {c.name}": value(c) for c in table.constraints}


def _column_cells(name: str, ours: Column, theirs: Column) -> Iterator[Difference]:
    for field in COLUMN_FIELDS:
        a, b = getattr(ours, field), getattr(theirs, field)
        if a != b:
            yield _d(name, ours.name, field, a, b)


def differences(
    database: str, native: dict[str, Table], generic: dict[str, Table]
) -> list[Difference]:
    """Every cell where the two connectors disagree (FQNs with the database as ``DB``)."""
    out: list[Difference] = []
    for name in sorted(native.keys() | generic.keys()):
        ours, theirs = native.get(name), generic.get(name)
        if ours is None or theirs is None:
            out.append(_d(name, "", "present", ours is not None, theirs is not None))
            continue
        for field in ("table_type", "description"):
            if getattr(ours, field) != getattr(theirs, field):
                out.append(_d(name, "", field, getattr(ours, field), getattr(theirs, field)))
        names = [c.name for c in ours.columns], [c.name for c in theirs.columns]
        if names[0] != names[1]:
            out.append(_d(name, "", "columns", *names))
            continue
        for a, b in zip(ours.columns, theirs.columns, strict=True):
            out += _column_cells(name, a, b)
        keys = _constraints(ours), _constraints(theirs)
        for key in sorted(keys[0].keys() | keys[1].keys()):
            a, b = keys[0].get(key), keys[1].get(key)
            if a != b:
                out.append(_d(name, "", key, a, b))
    return [_masked(d, database) for d in out]


def _masked(difference: Difference, database: str) -> Difference:
    def mask(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(f"pg.{database}.", "pg.DB.")
        if isinstance(value, tuple):
            return tuple(mask(v) for v in value)
        return value

    return _d(
        difference.table,
        difference.column,
        difference.field,
        mask(difference.native),
        mask(difference.generic),
    )


def test_native_and_generic_agree_but_for_named_differences(
    both: tuple[str, dict[str, Table], dict[str, Table]],
) -> None:
    database, native, generic = both
    assert len(native) == 19 and native.keys() == generic.keys()
    found = set(differences(database, native, generic))
    allowed = {a.difference for a in ALLOWED}
    bugs = {d for _, cells in KNOWN_BUGS.values() for d in cells}
    assert sorted(found - allowed - bugs, key=repr) == []
    assert sorted(allowed - found, key=repr) == [], "stale ALLOWED entries: remove them"


@pytest.mark.parametrize("bug", sorted(KNOWN_BUGS))
def test_known_bug_is_fixed(
    bug: str, both: tuple[str, dict[str, Table], dict[str, Table]], request: pytest.FixtureRequest
) -> None:
    """Each known bug, a strict xfail: once fixed it XPASSes; then drop its KNOWN_BUGS entry."""
    reason, cells = KNOWN_BUGS[bug]
    request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    database, native, generic = both
    found = set(differences(database, native, generic))
    assert set(cells).isdisjoint(found), reason
