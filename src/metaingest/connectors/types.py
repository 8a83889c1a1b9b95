"""Engine type names → OpenMetadata ``DataType``, as data tables and small functions.

Each engine owns one section below. Keys are lower-case type names as the engine spells
them without length, precision or array suffixes; ``lookup`` strips those.
"""

from __future__ import annotations

import re

from metaingest.entities import DataType

__all__ = ["lookup", "sqlite_affinity"]

_SUFFIX = re.compile(r"\s*(\(.*\))?\s*(\[\])*\s*$")


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

# --- MySQL / MariaDB (owned by connectors/mysql.py) --------------------------------------

# --- SQLAlchemy generic types (owned by connectors/sqlalchemy.py) ------------------------
