"""Engine type names → OpenMetadata ``DataType``, as data tables and small functions.

Each engine owns one section below. Keys are lower-case type names as the engine spells
them without length, precision or array suffixes; ``lookup`` strips those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy.dialects import postgresql
from sqlalchemy.sql import sqltypes

from metaingest.entities import DataType

__all__ = [
    "MYSQL",
    "MYSQL_SIZED",
    "POSTGRES",
    "SQLALCHEMY",
    "SQLALCHEMY_NAMES",
    "SQLITE",
    "SqlAlchemyType",
    "base_name",
    "lookup",
    "mysql_data_type",
    "postgres_data_type",
    "postgres_typmod",
    "sqlalchemy_type",
    "sqlite_affinity",
]

_SUFFIX = re.compile(r"\s*(\(.*\))?\s*(\[\])*\s*$")

# The functions of a type name below are pure and called once per column, over a handful of
# distinct names: cached (bounded, as the names come from the catalogs being read).
_CACHE_SIZE = 4096


@lru_cache(maxsize=_CACHE_SIZE)
def base_name(type_name: str) -> str:
    """``character varying(20)[]`` → ``character varying``; lower case, single spaces."""
    name = _SUFFIX.sub("", type_name.strip().lower())
    return " ".join(name.split())


def lookup(table: dict[str, DataType], type_name: str, default: DataType) -> DataType:
    """The DataType for ``type_name`` in an engine's table, or ``default``."""
    return table.get(base_name(type_name), default)


# --- SQLite ------------------------------------------------------------------------------

SQLITE: dict[str, DataType] = {
    "integer": DataType.INT,
    "int": DataType.INT,
    "tinyint": DataType.TINYINT,
    "smallint": DataType.SMALLINT,
    "mediumint": DataType.INT,
    "bigint": DataType.BIGINT,
    "unsigned big int": DataType.BIGINT,
    "int2": DataType.SMALLINT,
    "int8": DataType.BIGINT,
    "character": DataType.CHAR,
    "char": DataType.CHAR,
    "nchar": DataType.CHAR,
    "native character": DataType.CHAR,
    "varchar": DataType.VARCHAR,
    "varying character": DataType.VARCHAR,
    "nvarchar": DataType.VARCHAR,
    "text": DataType.TEXT,
    "clob": DataType.CLOB,
    "blob": DataType.BLOB,
    "real": DataType.DOUBLE,
    "double": DataType.DOUBLE,
    "double precision": DataType.DOUBLE,
    "float": DataType.FLOAT,
    "numeric": DataType.NUMERIC,
    "decimal": DataType.DECIMAL,
    "boolean": DataType.BOOLEAN,
    "bool": DataType.BOOLEAN,
    "date": DataType.DATE,
    "datetime": DataType.DATETIME,
    "timestamp": DataType.TIMESTAMP,
    "time": DataType.TIME,
    "json": DataType.JSON,
    "uuid": DataType.UUID,
}


def sqlite_affinity(declared: str) -> DataType:
    """SQLite's own affinity rules (section 3.1 of its datatype page), as a DataType."""
    upper = declared.upper()
    if "INT" in upper:
        return DataType.INT
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return DataType.TEXT
    if "BLOB" in upper or not upper.strip():
        return DataType.BLOB
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return DataType.DOUBLE
    return DataType.NUMERIC


# --- PostgreSQL (owned by connectors/postgres.py) -----------------------------------------

# Keys are ``format_type(oid, NULL)`` spellings: SQL-standard names, no modifiers.
POSTGRES: dict[str, DataType] = {
    "smallint": DataType.SMALLINT,
    "integer": DataType.INT,
    "bigint": DataType.BIGINT,
    "oid": DataType.BIGINT,
    "numeric": DataType.NUMERIC,
    "real": DataType.FLOAT,
    "double precision": DataType.DOUBLE,
    "money": DataType.MONEY,
    "character varying": DataType.VARCHAR,
    "character": DataType.CHAR,
    '"char"': DataType.CHAR,
    "name": DataType.VARCHAR,
    "text": DataType.TEXT,
    "citext": DataType.TEXT,
    "bytea": DataType.BYTEA,
    "boolean": DataType.BOOLEAN,
    "date": DataType.DATE,
    "time without time zone": DataType.TIME,
    "time with time zone": DataType.TIME,
    "timestamp without time zone": DataType.TIMESTAMP,
    "timestamp with time zone": DataType.TIMESTAMPZ,
    "interval": DataType.INTERVAL,
    "tsrange": DataType.DATETIMERANGE,
    "tstzrange": DataType.DATETIMERANGE,
    "daterange": DataType.DATETIMERANGE,
    "json": DataType.JSON,
    "jsonb": DataType.JSON,
    "hstore": DataType.MAP,
    "uuid": DataType.UUID,
    "xml": DataType.XML,
    "inet": DataType.INET,
    "cidr": DataType.CIDR,
    "macaddr": DataType.MACADDR,
    "macaddr8": DataType.MACADDR,
    "bit": DataType.BIT,
    "bit varying": DataType.BIT,
    "point": DataType.POINT,
    "polygon": DataType.POLYGON,
    "line": DataType.GEOMETRY,
    "lseg": DataType.GEOMETRY,
    "box": DataType.GEOMETRY,
    "path": DataType.GEOMETRY,
    "circle": DataType.GEOMETRY,
    "geometry": DataType.GEOMETRY,
    "geography": DataType.GEOGRAPHY,
    "tsvector": DataType.TSVECTOR,
    "tsquery": DataType.TSQUERY,
    "pg_lsn": DataType.PG_LSN,
    "pg_snapshot": DataType.PG_SNAPSHOT,
    "txid_snapshot": DataType.TXID_SNAPSHOT,
}

_VARHDRSZ = 4  # atttypmod of character types and numeric counts PostgreSQL's varlena header


@lru_cache(maxsize=_CACHE_SIZE)
def postgres_data_type(kind: str | None, name: str) -> DataType:
    """DataType of a non-array type: by ``pg_type.typtype`` kind, then by name."""
    if kind == "e":
        return DataType.ENUM
    if kind == "c":
        return DataType.STRUCT
    return lookup(POSTGRES, name, DataType.UNKNOWN)


@lru_cache(maxsize=_CACHE_SIZE)
def postgres_typmod(name: str, typmod: int) -> tuple[int | None, int | None, int | None]:
    """(data_length, precision, scale) encoded in an ``atttypmod`` of type ``name``."""
    if typmod < 0:
        return None, None, None
    base = base_name(name)
    if base in ("character varying", "character"):
        return typmod - _VARHDRSZ, None, None
    if base in ("bit", "bit varying"):
        return typmod, None, None
    if base == "numeric":
        packed = typmod - _VARHDRSZ
        # the low 11 bits hold the scale as a signed number (negative scales since 15)
        return None, (packed >> 16) & 0xFFFF, ((packed & 0x7FF) ^ 1024) - 1024
    return None, None, None


# --- MySQL / MariaDB (owned by connectors/mysql.py) --------------------------------------

MYSQL: dict[str, DataType] = {
    "tinyint": DataType.TINYINT,
    "smallint": DataType.SMALLINT,
    "mediumint": DataType.INT,
    "int": DataType.INT,
    "integer": DataType.INT,
    "bigint": DataType.BIGINT,
    "decimal": DataType.DECIMAL,
    "numeric": DataType.NUMERIC,
    "float": DataType.FLOAT,
    "double": DataType.DOUBLE,
    "double precision": DataType.DOUBLE,
    "real": DataType.DOUBLE,
    "bit": DataType.BIT,
    "bool": DataType.BOOLEAN,
    "boolean": DataType.BOOLEAN,
    "date": DataType.DATE,
    "datetime": DataType.DATETIME,
    "timestamp": DataType.TIMESTAMP,
    "time": DataType.TIME,
    "year": DataType.YEAR,
    "char": DataType.CHAR,
    "varchar": DataType.VARCHAR,
    "binary": DataType.BINARY,
    "varbinary": DataType.VARBINARY,
    "tinytext": DataType.TEXT,
    "text": DataType.TEXT,
    "mediumtext": DataType.MEDIUMTEXT,
    "longtext": DataType.TEXT,
    "tinyblob": DataType.BLOB,
    "blob": DataType.BLOB,
    "mediumblob": DataType.MEDIUMBLOB,
    "longblob": DataType.LONGBLOB,
    "enum": DataType.ENUM,
    "set": DataType.SET,
    "json": DataType.JSON,
    "geometry": DataType.GEOMETRY,
    "point": DataType.POINT,
    "linestring": DataType.GEOMETRY,
    "polygon": DataType.POLYGON,
    "multipoint": DataType.GEOMETRY,
    "multilinestring": DataType.GEOMETRY,
    "multipolygon": DataType.GEOMETRY,
    "geometrycollection": DataType.GEOMETRY,
    "geomcollection": DataType.GEOMETRY,
    "inet4": DataType.IPV4,
    "inet6": DataType.IPV6,
    "uuid": DataType.UUID,
    "vector": DataType.ARRAY,
}

# Types whose declared length (``varchar(20)``) is the column's ``data_length``.
MYSQL_SIZED = frozenset({DataType.CHAR, DataType.VARCHAR, DataType.BINARY, DataType.VARBINARY})


@lru_cache(maxsize=_CACHE_SIZE)
def mysql_data_type(column_type: str) -> DataType:
    """The DataType of a MySQL/MariaDB ``COLUMN_TYPE`` (``int(10) unsigned`` → INT)."""
    words = column_type.lower().split("(", 1)[0].split()
    name = " ".join(w for w in words if w not in _MYSQL_ATTRIBUTES)
    return MYSQL.get(name, DataType.UNKNOWN)


_MYSQL_ATTRIBUTES = frozenset({"unsigned", "signed", "zerofill"})


# --- SQLAlchemy generic types (owned by connectors/sqlalchemy.py) ------------------------

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
