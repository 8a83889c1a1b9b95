"""Engine type names → OpenMetadata ``DataType``, as data tables and small functions.

Each engine owns one section below. Keys are lower-case type names as the engine spells
them without length, precision or array suffixes; ``lookup`` strips those. SQLAlchemy's
generic types have their own module, ``sqlalchemy_types`` (importing SQLAlchemy costs ~0.1 s
and ~15 MB, which the native connectors do not need).
"""

from __future__ import annotations

import re
from functools import lru_cache

from metaingest.entities import DataType

__all__ = [
    "MYSQL",
    "MYSQL_SIZED",
    "POSTGRES",
    "SQLITE",
    "base_name",
    "lookup",
    "mysql_data_type",
    "postgres_data_type",
    "postgres_typmod",
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
    found = lookup(POSTGRES, name, DataType.UNKNOWN)
    if found is DataType.UNKNOWN and "." in name:
        # an extension's type outside pg_catalog comes schema-qualified (``public.citext``):
        # the search_path of catalog connections is empty
        found = lookup(POSTGRES, name.rsplit(".", 1)[1].strip('"'), DataType.UNKNOWN)
    return found


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
