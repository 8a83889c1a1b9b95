"""DuckDB's catalog read from its own ``duckdb_*()`` table functions, through SQLAlchemy.

duckdb-engine's dialect inherits SQLAlchemy's PostgreSQL reflection, whose catalog queries
use ``pg_collation`` and ``REGCLASS``, which DuckDB does not have (since SQLAlchemy 2.0.45:
duckdb_engine issues #1379, #1388), and its ``get_schema_names`` prefixes every schema with
its database. So for DuckDB this module fills the same ``Reflected`` as the Inspector path,
in four bound queries per schema, and parses DuckDB's type spelling into SQLAlchemy types
so that one type map (``sqlalchemy_types.SQLALCHEMY``) serves every dialect.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import BIT
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.interfaces import ReflectedColumn
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.type_api import TypeEngine

from metaingest.entities import TableType, UniqueIndex

from .sqlalchemy_reflect import Reflected
from .sqltext import index_parts

__all__ = ["list_schemas", "parse_type", "reflect_schema"]

_SCHEMAS = text(
    "SELECT schema_name, comment FROM duckdb_schemas()"
    " WHERE database_name = current_database() ORDER BY schema_name"
)
_OBJECTS = text(
    "SELECT table_name AS name, FALSE AS is_view, comment, NULL AS sql FROM duckdb_tables()"
    " WHERE database_name = current_database() AND schema_name = :schema AND NOT temporary"
    " UNION ALL"
    " SELECT view_name, TRUE, comment, sql FROM duckdb_views()"
    " WHERE database_name = current_database() AND schema_name = :schema"
    " AND NOT internal AND NOT temporary"
)
_COLUMNS = text(
    "SELECT table_name, column_name, data_type, is_nullable, column_default, comment,"
    " is_generated, generation_expression FROM duckdb_columns()"
    " WHERE database_name = current_database() AND schema_name = :schema"
    " ORDER BY table_name, column_index"
)
_CONSTRAINTS = text(
    "SELECT table_name, constraint_type, constraint_name, constraint_column_names,"
    " referenced_table, referenced_column_names FROM duckdb_constraints()"
    " WHERE database_name = current_database() AND schema_name = :schema"
    " AND constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY')"
    " ORDER BY table_name, constraint_index"
)
# CREATE UNIQUE INDEX: DuckDB lists it among indexes only, not among constraints
_UNIQUE_INDEXES = text(
    "SELECT table_name, index_name, sql FROM duckdb_indexes()"
    " WHERE database_name = current_database() AND schema_name = :schema"
    " AND is_unique AND NOT is_primary"
    " ORDER BY table_name, index_name"
)


@cache
def _generic_types() -> dict[str, Callable[[], TypeEngine[Any]]]:
    from duckdb_engine import datatypes as duck

    return {
        "TINYINT": duck.TinyInteger,
        "SMALLINT": sqltypes.SmallInteger,
        "INTEGER": sqltypes.Integer,
        "BIGINT": sqltypes.BigInteger,
        "HUGEINT": duck.HugeInteger,
        "UTINYINT": duck.UTinyInteger,
        "USMALLINT": duck.USmallInteger,
        "UINTEGER": duck.UInteger,
        "UBIGINT": duck.UBigInteger,
        "UHUGEINT": duck.UHugeInteger,
        "BIGNUM": duck.VarInt,
        "VARINT": duck.VarInt,
        "FLOAT": sqltypes.REAL,
        "DOUBLE": sqltypes.Double,
        "VARCHAR": sqltypes.String,
        "BLOB": sqltypes.LargeBinary,
        "BIT": BIT,
        "BOOLEAN": sqltypes.Boolean,
        "DATE": sqltypes.Date,
        "TIME": sqltypes.Time,
        "TIME WITH TIME ZONE": lambda: sqltypes.Time(timezone=True),
        "TIMESTAMP": sqltypes.TIMESTAMP,
        "TIMESTAMP_S": sqltypes.TIMESTAMP,
        "TIMESTAMP_MS": sqltypes.TIMESTAMP,
        "TIMESTAMP_NS": sqltypes.TIMESTAMP,
        "TIMESTAMP WITH TIME ZONE": lambda: sqltypes.TIMESTAMP(timezone=True),
        "INTERVAL": sqltypes.Interval,
        "UUID": sqltypes.Uuid,
        "JSON": sqltypes.JSON,
        "STRUCT": lambda: duck.Struct({}),
        "UNION": lambda: duck.Union({}),
        "MAP": lambda: duck.Map(sqltypes.NullType, sqltypes.NullType),
    }


_NAME = re.compile(r"^([A-Za-z_][A-Za-z0-9_ ]*?)\s*(?:\((.*)\))?$", re.DOTALL)
_LABEL = re.compile(r"'((?:[^']|'')*)'")


def parse_type(spelling: str, dialect: Dialect) -> TypeEngine[Any]:
    """A SQLAlchemy type for DuckDB's spelling of a column type (``DECIMAL(10,2)``, ``INT[]``)."""
    spelling = spelling.strip()
    dimensions = 0
    while spelling.endswith("]"):  # INTEGER[][] or INTEGER[3]: one ARRAY of two dimensions
        spelling, dimensions = spelling[: spelling.rindex("[")].rstrip(), dimensions + 1
    if dimensions:
        item = parse_type(spelling, dialect)
        return sqltypes.ARRAY(item, dimensions=dimensions if dimensions > 1 else None)
    match = _NAME.match(spelling)
    if match is None:
        return sqltypes.NullType()
    name, arguments = match.group(1).upper(), match.group(2)
    if name == "DECIMAL" and arguments:
        precision, _, scale = arguments.partition(",")
        return sqltypes.DECIMAL(int(precision), int(scale or 0))
    if name == "ENUM" and arguments is not None:
        labels = [label.replace("''", "'") for label in _LABEL.findall(arguments)]
        return sqltypes.Enum(*labels, native_enum=True, create_constraint=False)
    factory = _generic_types().get(name)
    if factory is not None:
        return factory()
    fallback = dialect.ischema_names.get(name.lower())  # type: ignore[attr-defined]
    return fallback() if fallback is not None else sqltypes.NullType()


def list_schemas(connection: Connection) -> list[tuple[str, str | None]]:
    """The schemas of the connection's current database, with their comments."""
    return [(row[0], row[1]) for row in connection.execute(_SCHEMAS)]


def reflect_schema(connection: Connection, schema: str) -> Reflected:
    """Reflect every table and view of ``schema`` in four catalog queries."""
    params = {"schema": schema}
    out = Reflected()
    for name, is_view, comment, sql in connection.execute(_OBJECTS, params):
        out.kinds[name] = TableType.View if is_view else TableType.Regular
        out.comments[name] = comment
        out.columns[name] = []
        if is_view:
            out.view_definitions[name] = sql
    dialect = connection.dialect
    for (
        table,
        name,
        spelling,
        nullable,
        default,
        comment,
        generated,
        expression,
    ) in connection.execute(_COLUMNS, params):
        if table not in out.columns:
            continue  # a temporary table's columns
        column: ReflectedColumn = {
            "name": name,
            "type": parse_type(spelling, dialect),
            "nullable": bool(nullable),
            "default": None if generated else default,
            "comment": comment,
        }
        if generated:
            column["computed"] = {"sqltext": expression, "persisted": False}
        out.columns[table].append(column)
        out.type_displays[(table, name)] = spelling
    for table, kind, name, columns, referred, referred_columns in connection.execute(
        _CONSTRAINTS, params
    ):
        if kind == "PRIMARY KEY":
            out.primary_keys[table] = {"constrained_columns": list(columns), "name": name}
        elif kind == "UNIQUE":
            unique = {"column_names": list(columns), "name": name}
            out.unique_constraints.setdefault(table, []).append(unique)  # type: ignore[arg-type]
        else:
            out.foreign_keys.setdefault(table, []).append(
                {
                    "name": name,
                    "constrained_columns": list(columns),
                    "referred_schema": None,  # DuckDB keeps foreign keys inside one schema
                    "referred_table": referred,
                    "referred_columns": list(referred_columns),
                    "options": {},
                }
            )
    _unique_indexes(connection, params, out)
    return out


def _unique_indexes(connection: Connection, params: dict[str, str], out: Reflected) -> None:
    """Unique indexes: on columns, a UNIQUE constraint named after the index; else kept apart."""
    for table, name, sql in connection.execute(_UNIQUE_INDEXES, params):
        parts, predicate = index_parts(sql)
        columns = [column for column, _ in parts]
        if table not in out.columns or not parts:
            continue
        if predicate is None and all(columns):
            unique = {"column_names": columns, "name": name}
            out.unique_constraints.setdefault(table, []).append(unique)  # type: ignore[arg-type]
            out.index_uniques.add((table, name))
        else:
            expressions = tuple(text for column, text in parts if column is None)
            index = UniqueIndex(
                name=name, columns=tuple(columns), expressions=expressions, predicate=predicate
            )
            out.unique_indexes.setdefault(table, []).append(index)
