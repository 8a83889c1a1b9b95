"""Native ``postgres`` and generic ``sqlalchemy`` (postgresql+asyncpg) on one rich database.

Both connectors read tests/fixtures/postgres_catalog.sql (every relation kind, domains,
enums, arrays, partitions, awkward names). They must agree on every table (presence, kind,
comment), column (names in order, position, nullability, DataType, array item type, length,
precision, scale, default, generation expression, identity, comment) and PRIMARY KEY /
UNIQUE / FOREIGN KEY constraint. Every disagreement is either an ``ALLOWED`` difference,
named with its reason, or a ``KNOWN_BUGS`` entry (a bug of ours, tolerated until fixed:
none at present; when one is added, give it a strict xfail test of its own); anything else
fails, and so does an allow-list entry that no longer occurs. View
definitions are not compared: both are pg_get_viewdef, pretty-printed or not.

MariaDB: tests/test_mysql.py::test_differential_with_sqlalchemy_connector holds native
``mysql`` and generic ``sqlalchemy`` (mysql+aiomysql) to the same comparison
(tests/differential.py) on tests/fixtures/mysql_catalog.sql, with its own allow-list.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from sqlalchemy.exc import SAWarning

from metaingest.entities import DataType, Table, TableType
from tests.conftest import PgServer
from tests.differential import (
    NATIVE_ONLY,
    Allowed,
    Difference,
    collect,
    differences,
    native_only,
    unexpected,
)
from tests.differential import d as _d

pytestmark = pytest.mark.postgres

FIXTURE = Path(__file__).parents[1] / "fixtures" / "postgres_catalog.sql"


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
    *(
        Allowed(
            _d("sales.customers", column, "data_length", 8, None),
            "SQLAlchemy reflects a domain's base type without its modifier (its _load_domains "
            "strips the (8) of character varying(8)), so DOMAIN.data_type has no length",
        )
        for column in ("code", "tiny")
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

# the routines each connector saw in the module's run (the generic connector reads none)
ROUTINES: dict[str, list[str]] = {}

_INDEX_ONLY = (
    "SQLAlchemy's Inspector keeps a unique index that backs no constraint among indexes; the "
    "native connector reports it as a UNIQUE constraint (from_index) named after the index"
)
ALLOWED += (
    Allowed(
        _d("Mixed Case.Product Catalog", "", "UNIQUE Product Catalog lower", (("lower",),), None),
        _INDEX_ONLY,
    ),
    Allowed(_d("sales.customers", "", "UNIQUE customers_uid_idx", (("uid",),), None), _INDEX_ONLY),
)

# name -> (why, the differences it causes); none at present (the dropped-column ordinal_position
# bug is fixed: both connectors number the live columns)
KNOWN_BUGS: dict[str, tuple[str, tuple[Difference, ...]]] = {}


def _load(server: PgServer, database: str) -> None:
    async def go() -> None:
        import asyncpg

        conn = await asyncpg.connect(
            host=server.host, port=server.port, user=server.user, database=database
        )
        try:
            await conn.execute(FIXTURE.read_text(encoding="utf-8"))  # one multi-statement script
            await conn.execute("ANALYZE")  # row estimates and sizes, which only native reads
        finally:
            await conn.close()

    anyio.run(go)


@pytest.fixture(scope="module")
def both(postgres_server: PgServer) -> Iterator[tuple[str, dict[str, Table], dict[str, Table]]]:
    """(database, native tables, generic tables), each by ``schema.table``; the routines each
    side saw are in ``ROUTINES``."""
    server = postgres_server
    database = server.create_database()
    try:
        _load(server, database)
        ROUTINES["native"], ROUTINES["generic"] = [], []
        native = anyio.run(collect, server.source(database), ROUTINES["native"])
        url = f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/{database}"
        with warnings.catch_warnings():
            # the one composite-type column (ALLOWED); any other SAWarning still fails
            warnings.filterwarnings(
                "ignore", "Did not recognize type 'sales.address'", category=SAWarning
            )
            generic = anyio.run(
                collect,
                {"type": "sqlalchemy", "url": url, "service_name": "pg"},
                ROUTINES["generic"],
            )
        yield database, native, generic
    finally:
        server.drop_database(database)


def test_native_and_generic_agree_but_for_named_differences(
    both: tuple[str, dict[str, Table], dict[str, Table]],
) -> None:
    database, native, generic = both
    assert len(native) == 19 and native.keys() == generic.keys()
    found = differences(native, generic, {f"pg.{database}.": "pg.DB."})
    bugs = {d for _, cells in KNOWN_BUGS.values() for d in cells}
    extra, stale = unexpected(found, ALLOWED, bugs)
    assert extra == []
    assert stale == [], "stale ALLOWED entries: remove them"
    # what only the native connector reads: owners, statistics (NATIVE_ONLY), and routines
    assert native_only(found) == set(NATIVE_ONLY)
    assert ROUTINES == {
        "native": [
            "sales.close_orders(integer)",
            "sales.order_total(bigint)",
            "sales.order_total(bigint, boolean)",
        ],
        "generic": [],
    }
