"""The SQLAlchemy type map and DuckDB's type spelling parser, without a database."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import types as sat
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import make_url

from metaingest.connectors.sqlalchemy import database_name
from metaingest.connectors.sqlalchemy_duckdb import parse_type
from metaingest.connectors.sqlalchemy_reflect import type_display
from metaingest.connectors.sqlalchemy_types import SqlAlchemyType, sqlalchemy_type
from metaingest.entities import DataType as D


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (sat.Integer(), SqlAlchemyType(D.INT)),
        (sat.SmallInteger(), SqlAlchemyType(D.SMALLINT)),
        (sat.BIGINT(), SqlAlchemyType(D.BIGINT)),
        (mysql.TINYINT(), SqlAlchemyType(D.TINYINT)),
        (sat.Numeric(10, 2), SqlAlchemyType(D.NUMERIC, precision=10, scale=2)),
        (sat.DECIMAL(5, 1), SqlAlchemyType(D.DECIMAL, precision=5, scale=1)),
        (sat.Float(), SqlAlchemyType(D.FLOAT)),
        (sat.REAL(), SqlAlchemyType(D.FLOAT)),
        (postgresql.DOUBLE_PRECISION(), SqlAlchemyType(D.DOUBLE)),
        (sat.String(20), SqlAlchemyType(D.VARCHAR, data_length=20)),
        (sat.CHAR(3), SqlAlchemyType(D.CHAR, data_length=3)),
        (sat.Text(), SqlAlchemyType(D.TEXT)),
        (mysql.TINYTEXT(), SqlAlchemyType(D.TEXT)),
        (mysql.MEDIUMTEXT(), SqlAlchemyType(D.MEDIUMTEXT)),
        (mysql.LONGTEXT(), SqlAlchemyType(D.TEXT)),  # also MariaDB's JSON
        (sat.Boolean(), SqlAlchemyType(D.BOOLEAN)),
        (sat.Date(), SqlAlchemyType(D.DATE)),
        (sat.DateTime(), SqlAlchemyType(D.TIMESTAMP)),
        (sat.DateTime(timezone=True), SqlAlchemyType(D.TIMESTAMPZ)),
        (mysql.DATETIME(), SqlAlchemyType(D.DATETIME)),
        (sat.Time(), SqlAlchemyType(D.TIME)),
        (sat.Interval(), SqlAlchemyType(D.INTERVAL)),
        (postgresql.INTERVAL(), SqlAlchemyType(D.INTERVAL)),
        (sat.LargeBinary(), SqlAlchemyType(D.BLOB)),
        (sat.VARBINARY(16), SqlAlchemyType(D.VARBINARY, data_length=16)),
        (postgresql.BYTEA(), SqlAlchemyType(D.BYTEA)),
        (sat.JSON(), SqlAlchemyType(D.JSON)),
        (postgresql.JSONB(), SqlAlchemyType(D.JSON)),
        (postgresql.ARRAY(sat.Integer()), SqlAlchemyType(D.ARRAY, array_data_type=D.INT)),
        (
            postgresql.ARRAY(sat.VARCHAR(5)),
            SqlAlchemyType(D.ARRAY, data_length=5, array_data_type=D.VARCHAR),
        ),
        (
            postgresql.ARRAY(sat.Numeric(10, 2)),
            SqlAlchemyType(D.ARRAY, precision=10, scale=2, array_data_type=D.NUMERIC),
        ),
        (postgresql.BIT(16, varying=True), SqlAlchemyType(D.BIT, data_length=16)),
        (postgresql.BIT(3), SqlAlchemyType(D.BIT, data_length=3)),
        (postgresql.BIT(), SqlAlchemyType(D.BIT, data_length=1)),  # bit is bit(1)
        (postgresql.BIT(varying=True), SqlAlchemyType(D.BIT)),
        (mysql.BIT(8), SqlAlchemyType(D.BIT)),  # as the native connector: no length
        (postgresql.TSRANGE(), SqlAlchemyType(D.DATETIMERANGE)),
        (postgresql.TSTZRANGE(), SqlAlchemyType(D.DATETIMERANGE)),
        (postgresql.DATERANGE(), SqlAlchemyType(D.DATETIMERANGE)),
        (postgresql.INT4RANGE(), SqlAlchemyType(D.UNKNOWN)),  # as types.POSTGRES
        (postgresql.NUMRANGE(), SqlAlchemyType(D.UNKNOWN)),
        (sat.Enum("a", "bb", name="e"), SqlAlchemyType(D.ENUM)),
        (mysql.ENUM("a", "bb"), SqlAlchemyType(D.ENUM)),
        (mysql.SET("red", "green"), SqlAlchemyType(D.SET)),  # no length from its labels
        (mysql.TINYBLOB(), SqlAlchemyType(D.BLOB)),
        (mysql.BLOB(), SqlAlchemyType(D.BLOB)),
        (mysql.MEDIUMBLOB(), SqlAlchemyType(D.MEDIUMBLOB)),
        (mysql.LONGBLOB(), SqlAlchemyType(D.LONGBLOB)),
        (sat.Uuid(), SqlAlchemyType(D.UUID)),
        (postgresql.INET(), SqlAlchemyType(D.INET)),
        (sat.NullType(), SqlAlchemyType(D.UNKNOWN)),
    ],
    ids=repr,
)
def test_sqlalchemy_type_map(type_: Any, expected: SqlAlchemyType) -> None:
    assert sqlalchemy_type(type_) == expected


# Reflection gives a domain's base type without its modifier (SQLAlchemy strips "(8)");
# a length that is there is kept.
_SHORT_CODE = postgresql.DOMAIN("short_code", sat.VARCHAR(8), not_null=True)
_POSITIVE = postgresql.DOMAIN("positive_int", sat.Integer())


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        (_SHORT_CODE, SqlAlchemyType(D.VARCHAR, data_length=8, not_null=True)),
        (  # NOT NULL from the domain under it
            postgresql.DOMAIN("tiny_code", _SHORT_CODE),
            SqlAlchemyType(D.VARCHAR, data_length=8, not_null=True),
        ),
        (postgresql.DOMAIN("short", sat.VARCHAR()), SqlAlchemyType(D.VARCHAR)),
        (_POSITIVE, SqlAlchemyType(D.INT)),
        (postgresql.DOMAIN("money2", sat.Numeric(12, 2)), SqlAlchemyType(D.NUMERIC, None, 12, 2)),
        (postgresql.ARRAY(_POSITIVE), SqlAlchemyType(D.ARRAY, array_data_type=D.INT)),
        (  # NOT NULL elements, not a NOT NULL column
            postgresql.ARRAY(postgresql.DOMAIN("tiny_code", _SHORT_CODE)),
            SqlAlchemyType(D.ARRAY, data_length=8, array_data_type=D.VARCHAR),
        ),
        (
            postgresql.DOMAIN("codes", postgresql.ARRAY(sat.VARCHAR(5))),
            SqlAlchemyType(D.ARRAY, data_length=5, array_data_type=D.VARCHAR),
        ),
    ],
    ids=lambda v: repr(v) if isinstance(v, SqlAlchemyType) else None,
)
def test_domain_is_its_base_type(type_: Any, expected: SqlAlchemyType) -> None:
    """A PostgreSQL domain maps as the type under it, also under domains and in arrays."""
    assert sqlalchemy_type(type_) == expected


def test_domain_display_is_its_name() -> None:
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    tiny = postgresql.DOMAIN("tiny_code", _SHORT_CODE, schema="sales")
    assert type_display(tiny, dialect) == "sales.tiny_code"
    assert type_display(postgresql.ARRAY(tiny), dialect) == "sales.tiny_code[]"


@pytest.mark.parametrize(
    ("spelling", "data_type", "array"),
    [
        ("INTEGER", D.INT, None),
        ("UBIGINT", D.BIGINT, None),
        ("DECIMAL(38,10)", D.DECIMAL, None),
        ("TIMESTAMP_NS", D.TIMESTAMP, None),
        ("TIME WITH TIME ZONE", D.TIME, None),
        ("INTEGER[][]", D.ARRAY, D.INT),
        ("STRUCT(x INTEGER)[]", D.ARRAY, D.STRUCT),
        ("UNION(n INTEGER, s VARCHAR)", D.UNION, None),
        ("ENUM('a', 'it''s')", D.ENUM, None),
        ("GEOMETRY", D.UNKNOWN, None),
    ],
)
def test_duckdb_spelling(spelling: str, data_type: D, array: D | None) -> None:
    from duckdb_engine import Dialect

    mapped = sqlalchemy_type(parse_type(spelling, Dialect()))
    assert (mapped.data_type, mapped.array_data_type) == (data_type, array)


def test_duckdb_enum_labels_are_unquoted() -> None:
    from duckdb_engine import Dialect

    enum = parse_type("ENUM('a', 'it''s')", Dialect())
    assert isinstance(enum, sat.Enum) and enum.enums == ["a", "it's"]


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("duckdb:////data/warehouse.duckdb", "warehouse"),
        ("sqlite:///relative/shop.db", "shop"),
        ("sqlite://", "default"),
        ("duckdb:///:memory:", "default"),
        ("postgresql+asyncpg://u:p@h:5432/sales", "sales"),
        ("postgresql+asyncpg://u@h", "default"),
    ],
)
def test_database_name_from_url(url: str, name: str) -> None:
    assert database_name(make_url(url)) == name
