"""The connectors under conformance test: one ``Case`` each, with its capability record.

A case names the engine its catalog lives on (``ddl.ENGINES`` and the ``<engine>_target``
fixture), builds its ``source:`` mapping from the built ``Target``, and says what the
connector reports there. Adding a connector is adding a ``Case`` to ``CASES``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metaingest.entities import DataType

__all__ = ["CASES", "Capabilities", "Case", "Target"]

SERVICE = "conf"


@dataclass(frozen=True)
class Target:
    """A built catalog: the database entity's name and each logical schema's real name."""

    database: str
    schemas: Mapping[str, str]
    url: str  # a SQLAlchemy URL for the generic connector
    extra: Mapping[str, Any] = field(default_factory=dict)  # what a native source needs

    def schema_filter(self, logical: tuple[str, ...] | None = None) -> dict[str, list[str]]:
        """Include exactly the catalog's schemas (or the ``logical`` ones)."""
        names = [p for name, p in self.schemas.items() if logical is None or name in logical]
        return {"includes": ["^" + re.escape(name) + "$" for name in names]}


@dataclass(frozen=True)
class Capabilities:
    """What a connector reports of the catalog on its engine.

    ``types``: the DataType of each type family (a family the engine lacks is absent from
    the engine's DDL, not from here). ``lengths``: families whose declared length is
    ``data_length``. ``schemas``: the logical schemas the connector can see (None: all).
    """

    types: Mapping[str, DataType]
    lengths: frozenset[str] = frozenset({"varchar", "char"})
    precision_scale: bool = True
    table_comments: bool = True
    column_comments: bool = True
    view_comments: bool = True
    schemas: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Case:
    """One connector on one engine."""

    id: str
    engine: str
    source: Callable[[Target], dict[str, Any]]
    caps: Capabilities
    # test name → why it fails: applied as a strict xfail, so a fix shows up as XPASS
    known_bugs: Mapping[str, str] = field(default_factory=dict)


def _generic(target: Target, **extra: Any) -> dict[str, Any]:
    return {
        "type": "sqlalchemy",
        "url": target.url,
        "service_name": SERVICE,
        "schema_filter": target.schema_filter(),
        **extra,
    }


def _native(kind: str) -> Callable[[Target], dict[str, Any]]:
    def source(target: Target) -> dict[str, Any]:
        return {
            "type": kind,
            "service_name": SERVICE,
            "schema_filter": target.schema_filter(),
            **target.extra,
        }

    return source


_PG = {
    "smallint": DataType.SMALLINT,
    "integer": DataType.INT,
    "bigint": DataType.BIGINT,
    "decimal": DataType.NUMERIC,  # PostgreSQL's decimal is numeric
    "float": DataType.FLOAT,
    "double": DataType.DOUBLE,
    "varchar": DataType.VARCHAR,
    "char": DataType.CHAR,
    "text": DataType.TEXT,
    "boolean": DataType.BOOLEAN,
    "date": DataType.DATE,
    "timestamp": DataType.TIMESTAMP,
    "time": DataType.TIME,
    "binary": DataType.BYTEA,
    "json": DataType.JSON,
    "uuid": DataType.UUID,
}
_MARIADB = {
    **_PG,
    "decimal": DataType.DECIMAL,
    "boolean": DataType.TINYINT,  # BOOLEAN is a synonym of TINYINT(1)
    "timestamp": DataType.DATETIME,  # the DDL's DATETIME
    "binary": DataType.BLOB,
}
_SQLITE = {**_MARIADB, "boolean": DataType.BOOLEAN, "timestamp": DataType.TIMESTAMP}
_DUCKDB = {
    **_SQLITE,
    "char": DataType.VARCHAR,  # CHAR(n) and TEXT are aliases of VARCHAR
    "text": DataType.VARCHAR,
}

CASES = (
    Case(
        "postgres",
        "postgres",
        _native("postgres"),
        Capabilities(_PG),
    ),
    Case("sqlalchemy-postgresql+asyncpg", "postgres", _generic, Capabilities(_PG)),
    Case("mysql", "mysql", _native("mysql"), Capabilities(_MARIADB, view_comments=False)),
    Case(
        "sqlalchemy-mysql+aiomysql",
        "mysql",
        _generic,
        Capabilities(
            # SQLAlchemy's MariaDB reflection sees JSON as what it is stored as: LONGTEXT
            # (the native connector reads the json_valid CHECK that marks it).
            {**_MARIADB, "json": DataType.TEXT},
            view_comments=False,
        ),
        known_bugs={
            "test_column_names_in_order_byte_exact": (
                "SQLAlchemy bug: its MySQL reflection parses SHOW CREATE TABLE and does not "
                "unescape a doubled backtick, so the column back`tick comes out as back``tick"
            ),
            "test_ddl_round_trips": (
                "the same SQLAlchemy bug: back``tick, extracted wrongly, is created as such and "
                "comes back as back````tick"
            ),
        },
    ),
    Case(
        "sqlite",
        "sqlite",
        _native("sqlite"),
        Capabilities(_SQLITE, table_comments=False, column_comments=False, view_comments=False),
    ),
    Case(
        "sqlalchemy-sqlite",
        "sqlite",
        # A sqlite:/// URL opens the main file only: the attached schemas are not seen.
        lambda target: _generic(target, schema_filter=target.schema_filter(("core",))),
        Capabilities(
            _SQLITE,
            table_comments=False,
            column_comments=False,
            view_comments=False,
            schemas=("core",),
        ),
    ),
    Case(
        "sqlalchemy-duckdb",
        "duckdb",
        _generic,
        Capabilities(_DUCKDB, lengths=frozenset()),  # DuckDB keeps no VARCHAR length
    ),
)


def sqlite_extra(main: Path, attached: Mapping[str, Path]) -> dict[str, Any]:
    """The native SQLite source's file keys."""
    return {"path": str(main), "attach": {name: str(path) for name, path in attached.items()}}
