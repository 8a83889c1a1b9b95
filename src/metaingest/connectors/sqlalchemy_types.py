"""SQLAlchemy's reflected types → OpenMetadata ``DataType`` (for connectors/sqlalchemy.py).

Apart from ``types`` so that only the generic connector imports SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import sqltypes

from metaingest.entities import DataType

__all__ = ["SQLALCHEMY", "SQLALCHEMY_NAMES", "SqlAlchemyType", "sqlalchemy_type"]

# Looked up along the type's class MRO, so a dialect's subclass (postgresql.DOUBLE_PRECISION,
# mysql.TEXT, duckdb_engine's HugeInteger) lands on its nearest generic ancestor.
SQLALCHEMY: dict[type[sqltypes.TypeEngine[Any]], DataType] = {
    sqltypes.SmallInteger: DataType.SMALLINT,
    sqltypes.BigInteger: DataType.BIGINT,
    sqltypes.Integer: DataType.INT,
    sqltypes.Double: DataType.DOUBLE,
    sqltypes.Float: DataType.FLOAT,
    sqltypes.DECIMAL: DataType.DECIMAL,
    sqltypes.Numeric: DataType.NUMERIC,
    sqltypes.Enum: DataType.ENUM,
    sqltypes.CHAR: DataType.CHAR,
    sqltypes.CLOB: DataType.CLOB,
    sqltypes.Text: DataType.TEXT,
    sqltypes.String: DataType.VARCHAR,
    sqltypes.Boolean: DataType.BOOLEAN,
    sqltypes.Date: DataType.DATE,
    sqltypes.DATETIME: DataType.DATETIME,
    sqltypes.DateTime: DataType.TIMESTAMP,
    sqltypes.Time: DataType.TIME,
    sqltypes.Interval: DataType.INTERVAL,
    sqltypes.VARBINARY: DataType.VARBINARY,
    sqltypes.BINARY: DataType.BINARY,
    sqltypes.LargeBinary: DataType.BLOB,
    sqltypes.JSON: DataType.JSON,
    sqltypes.ARRAY: DataType.ARRAY,
    sqltypes.Uuid: DataType.UUID,
    sqltypes.NullType: DataType.UNKNOWN,
}

# Dialect types finer than their generic ancestor, by lower-case class or visit name.
SQLALCHEMY_NAMES: dict[str, DataType] = {
    "tinyint": DataType.TINYINT,
    "tinyinteger": DataType.TINYINT,
    "utinyinteger": DataType.TINYINT,
    "hugeinteger": DataType.LARGEINT,
    "uhugeinteger": DataType.LARGEINT,
    "varint": DataType.LARGEINT,
    "uinteger": DataType.UINT,
    "ubiginteger": DataType.BIGINT,
    "usmallinteger": DataType.SMALLINT,
    # mysql.TINYTEXT/MEDIUMTEXT/LONGTEXT derive from String, not Text; as types.MYSQL maps them
    "tinytext": DataType.TEXT,
    "mediumtext": DataType.MEDIUMTEXT,
    "longtext": DataType.TEXT,
    "tinyblob": DataType.BLOB,  # mysql.TINYBLOB derives from _Binary, not LargeBinary
    "mediumblob": DataType.MEDIUMBLOB,
    "longblob": DataType.LONGBLOB,
    "bytea": DataType.BYTEA,
    "interval": DataType.INTERVAL,
    "year": DataType.YEAR,
    "set": DataType.SET,
    "bit": DataType.BIT,
    "money": DataType.MONEY,
    "inet": DataType.INET,
    "cidr": DataType.CIDR,
    "macaddr": DataType.MACADDR,
    "tsvector": DataType.TSVECTOR,
    "tsquery": DataType.TSQUERY,
    "hstore": DataType.MAP,
    # as types.POSTGRES: the datetime ranges only (numeric ranges have no DataType)
    "tsrange": DataType.DATETIMERANGE,
    "tstzrange": DataType.DATETIMERANGE,
    "daterange": DataType.DATETIMERANGE,
    "struct": DataType.STRUCT,
    "map": DataType.MAP,
    "union": DataType.UNION,
}

# Types whose ``length`` is the column's ``data_length``. Not mysql.BIT: types.MYSQL_SIZED
# leaves bit(n) without a length, and the two MySQL connectors agree.
_SQLALCHEMY_SIZED = (
    sqltypes.String,
    sqltypes.LargeBinary,
    sqltypes.BINARY,
    sqltypes.VARBINARY,
    postgresql.BIT,
)
_LABELLED = frozenset({DataType.ENUM, DataType.SET})


@dataclass(frozen=True, slots=True)
class SqlAlchemyType:
    """A reflected SQLAlchemy type as the Column fields it fills."""

    data_type: DataType
    data_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    array_data_type: DataType | None = None
    # A domain, or a domain under it, is NOT NULL: PostgreSQL rejects NULL in the column.
    # (SQLAlchemy's reflection applies only the column's own domain's NOT NULL.)
    not_null: bool = False


def _domain_base(type_: sqltypes.TypeEngine[Any]) -> sqltypes.TypeEngine[Any]:
    """The type under a PostgreSQL domain, through domains on domains; others as they are."""
    while isinstance(type_, postgresql.DOMAIN):
        type_ = type_.data_type
    return type_


def _domain_not_null(type_: sqltypes.TypeEngine[Any]) -> bool:
    """Whether a domain in the chain from ``type_`` down to its base type is NOT NULL."""
    while isinstance(type_, postgresql.DOMAIN):
        if type_.not_null:
            return True
        type_ = type_.data_type
    return False


def _sqlalchemy_data_type(type_: sqltypes.TypeEngine[Any]) -> DataType:
    cls = type(type_)
    for name in (cls.__name__.lower(), str(getattr(cls, "__visit_name__", "")).lower()):
        if name in SQLALCHEMY_NAMES:
            return SQLALCHEMY_NAMES[name]
    for base in cls.__mro__:
        found = SQLALCHEMY.get(base)
        if found is not None:
            if found in (DataType.TIMESTAMP, DataType.DATETIME) and getattr(
                type_, "timezone", False
            ):
                return DataType.TIMESTAMPZ
            return found
    return DataType.UNKNOWN


def sqlalchemy_type(type_: sqltypes.TypeEngine[Any]) -> SqlAlchemyType:
    """DataType, length, precision, scale and array item type of a reflected SQLAlchemy type.

    A domain is its base type, and NOT NULL if it or a domain under it is. An array has its
    element's length, precision and scale, as PostgreSQL keeps an array column's type
    modifier for its elements.
    """
    not_null = _domain_not_null(type_)
    type_ = _domain_base(type_)
    if isinstance(type_, sqltypes.ARRAY):
        item = sqlalchemy_type(type_.item_type)
        return SqlAlchemyType(
            data_type=_sqlalchemy_data_type(type_),
            data_length=item.data_length,
            precision=item.precision,
            scale=item.scale,
            array_data_type=item.data_type,
            not_null=not_null,
        )
    data_type = _sqlalchemy_data_type(type_)
    # an ENUM's or SET's ``length`` is its longest label's, not a declared length
    sized = isinstance(type_, _SQLALCHEMY_SIZED) and data_type not in _LABELLED
    length = getattr(type_, "length", None) if sized else None
    precision = scale = None
    if isinstance(type_, sqltypes.Numeric) and not isinstance(type_, sqltypes.Float):
        precision, scale = type_.precision, type_.scale
    return SqlAlchemyType(
        data_type=data_type,
        data_length=length if isinstance(length, int) else None,
        precision=precision,
        scale=scale if isinstance(scale, int) else None,
        not_null=not_null,
    )
