"""Typed, frozen entities following OpenMetadata's model, and fully qualified names.

``Database`` → ``DatabaseSchema`` → ``Table`` → ``Column`` / ``TableConstraint``. Each entity
names its parent by FQN (``service.database.schema.table``); a name part that contains a dot
is double-quoted, as OpenMetadata does. ``to_openmetadata()`` returns the matching
Create*Request payload (camelCase dict) that validates against OpenMetadata's JSON Schemas.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, computed_field

from metaingest.lineage.model import ViewLineage

__all__ = [
    "Column",
    "ConstraintType",
    "DataType",
    "Database",
    "DatabaseSchema",
    "Partition",
    "Partitioning",
    "Table",
    "TableConstraint",
    "TableType",
    "UniqueIndex",
    "build_fqn",
    "quote_name",
    "split_fqn",
]


class DataType(StrEnum):
    """OpenMetadata's column data types (``table.json#/definitions/dataType``)."""

    NUMBER = "NUMBER"
    TINYINT = "TINYINT"
    SMALLINT = "SMALLINT"
    INT = "INT"
    BIGINT = "BIGINT"
    BYTEINT = "BYTEINT"
    BYTES = "BYTES"
    FLOAT = "FLOAT"
    DOUBLE = "DOUBLE"
    DECIMAL = "DECIMAL"
    NUMERIC = "NUMERIC"
    TIMESTAMP = "TIMESTAMP"
    TIMESTAMPZ = "TIMESTAMPZ"
    TIME = "TIME"
    DATE = "DATE"
    DATETIME = "DATETIME"
    INTERVAL = "INTERVAL"
    STRING = "STRING"
    MEDIUMTEXT = "MEDIUMTEXT"
    TEXT = "TEXT"
    CHAR = "CHAR"
    LONG = "LONG"
    VARCHAR = "VARCHAR"
    BOOLEAN = "BOOLEAN"
    BINARY = "BINARY"
    VARBINARY = "VARBINARY"
    ARRAY = "ARRAY"
    BLOB = "BLOB"
    LONGBLOB = "LONGBLOB"
    MEDIUMBLOB = "MEDIUMBLOB"
    MAP = "MAP"
    STRUCT = "STRUCT"
    UNION = "UNION"
    SET = "SET"
    GEOGRAPHY = "GEOGRAPHY"
    ENUM = "ENUM"
    JSON = "JSON"
    UUID = "UUID"
    VARIANT = "VARIANT"
    GEOMETRY = "GEOMETRY"
    BYTEA = "BYTEA"
    AGGREGATEFUNCTION = "AGGREGATEFUNCTION"
    ERROR = "ERROR"
    FIXED = "FIXED"
    RECORD = "RECORD"
    NULL = "NULL"
    SUPER = "SUPER"
    HLLSKETCH = "HLLSKETCH"
    PG_LSN = "PG_LSN"
    PG_SNAPSHOT = "PG_SNAPSHOT"
    TSQUERY = "TSQUERY"
    TXID_SNAPSHOT = "TXID_SNAPSHOT"
    XML = "XML"
    MACADDR = "MACADDR"
    TSVECTOR = "TSVECTOR"
    UNKNOWN = "UNKNOWN"
    CIDR = "CIDR"
    INET = "INET"
    CLOB = "CLOB"
    ROWID = "ROWID"
    LOWCARDINALITY = "LOWCARDINALITY"
    YEAR = "YEAR"
    POINT = "POINT"
    POLYGON = "POLYGON"
    TUPLE = "TUPLE"
    SPATIAL = "SPATIAL"
    TABLE = "TABLE"
    NTEXT = "NTEXT"
    IMAGE = "IMAGE"
    IPV4 = "IPV4"
    IPV6 = "IPV6"
    DATETIMERANGE = "DATETIMERANGE"
    HLL = "HLL"
    LARGEINT = "LARGEINT"
    QUANTILE_STATE = "QUANTILE_STATE"
    AGG_STATE = "AGG_STATE"
    BITMAP = "BITMAP"
    UINT = "UINT"
    BIT = "BIT"
    MONEY = "MONEY"
    MEASURE_HIDDEN = "MEASURE HIDDEN"
    MEASURE_VISIBLE = "MEASURE VISIBLE"
    MEASURE = "MEASURE"
    KPI = "KPI"
    HEIRARCHY = "HEIRARCHY"
    HIERARCHYID = "HIERARCHYID"


class TableType(StrEnum):
    """OpenMetadata's table types."""

    Regular = "Regular"
    External = "External"
    Dynamic = "Dynamic"
    View = "View"
    SecureView = "SecureView"
    MaterializedView = "MaterializedView"
    Iceberg = "Iceberg"
    Local = "Local"
    Partitioned = "Partitioned"
    Foreign = "Foreign"
    Transient = "Transient"
    Stream = "Stream"
    Stage = "Stage"


VIEW_TYPES = frozenset({TableType.View, TableType.SecureView, TableType.MaterializedView})


class ConstraintType(StrEnum):
    """Table constraint kinds that metaingest extracts."""

    PRIMARY_KEY = "PRIMARY_KEY"
    UNIQUE = "UNIQUE"
    FOREIGN_KEY = "FOREIGN_KEY"


def quote_name(name: str) -> str:
    """Quote one FQN part as OpenMetadata does: wrap it in double quotes if it has a dot.

    Inside the quotes a backslash or double quote is escaped with a backslash, so that
    ``split_fqn`` can always recover the name. A name that starts with a double quote is
    quoted too, so that it cannot be mistaken for a quoted part.
    """
    if "." not in name and not name.startswith('"'):
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_fqn(*parts: str) -> str:
    """Join name parts into a fully qualified name, quoting parts that contain a dot."""
    return ".".join(quote_name(part) for part in parts)


_UNESCAPE = re.compile(r"\\(.)")
_PART = re.compile(r'"((?:[^"\\]|\\.)*)"(?:\.|$)|([^.]*)(?:\.|$)')


def split_fqn(fqn: str) -> list[str]:
    """Split a fully qualified name into its unquoted parts (the inverse of build_fqn)."""
    parts: list[str] = []
    pos = 0
    while pos < len(fqn):
        match = _PART.match(fqn, pos)
        if match is None or match.end() == pos:
            raise ValueError(f"invalid fully qualified name: {fqn!r}")
        quoted = match.group(1)
        parts.append(_UNESCAPE.sub(r"\1", quoted) if quoted is not None else match.group(2))
        pos = match.end()
    if fqn.endswith("."):
        parts.append("")
    return parts


class _Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Column(_Entity):
    """One column of a table or view.

    ``data_type_display`` is the engine's own spelling (``character varying(20)``,
    ``int(10) unsigned``); ``default`` is the default expression as the engine prints it,
    None when there is none; ``generated`` is the expression of a generated column;
    ``identity`` is the engine's identity kind (``ALWAYS``, ``BY DEFAULT``,
    ``AUTO_INCREMENT``); ``on_update`` is MySQL's ``ON UPDATE`` expression
    (``current_timestamp()``), apart from the default; ``invisible`` is True for a column
    that ``SELECT *`` leaves out (MySQL/MariaDB ``INVISIBLE``).
    """

    name: str
    ordinal_position: int
    data_type: DataType
    data_type_display: str
    data_length: int | None = None
    precision: int | None = None
    scale: int | None = None
    array_data_type: DataType | None = None
    nullable: bool = True
    default: str | None = None
    generated: str | None = None
    identity: str | None = None
    description: str | None = None
    on_update: str | None = None
    invisible: bool | None = None

    def to_openmetadata(self, constraint: str | None = None) -> dict[str, Any]:
        """The column as OpenMetadata's ``column`` object."""
        out: dict[str, Any] = {
            "name": self.name,
            "dataType": self.data_type.value,
            "dataTypeDisplay": self.data_type_display,
            "ordinalPosition": self.ordinal_position,
            "constraint": constraint or ("NULL" if self.nullable else "NOT_NULL"),
        }
        length = self.data_length
        if length is None and self.data_type in _LENGTH_REQUIRED:
            length = 1  # OpenMetadata's server rejects these types without a length
        for key, value in (
            ("dataLength", length),
            ("precision", self.precision),
            ("scale", self.scale),
            ("arrayDataType", self.array_data_type and self.array_data_type.value),
            ("description", self.description),
        ):
            if value is not None:
                out[key] = value
        return out


_LENGTH_REQUIRED = frozenset({DataType.CHAR, DataType.VARCHAR, DataType.BINARY, DataType.VARBINARY})


class TableConstraint(_Entity):
    """A primary key, unique or foreign key constraint over one or more columns.

    ``from_index`` is True for a UNIQUE constraint that the engine keeps only as a unique
    index (``CREATE UNIQUE INDEX``, no constraint); its ``name`` is the index's.
    """

    constraint_type: ConstraintType
    columns: tuple[str, ...]
    name: str | None = None
    referred_table: str | None = None
    referred_columns: tuple[str, ...] = ()
    from_index: bool | None = None

    def to_openmetadata(self) -> dict[str, Any]:
        """The constraint as OpenMetadata's ``tableConstraint`` object."""
        out: dict[str, Any] = {
            "constraintType": self.constraint_type.value,
            "columns": list(self.columns),
        }
        if self.referred_table is not None:
            out["referredColumns"] = [
                f"{self.referred_table}.{quote_name(column)}" for column in self.referred_columns
            ]
        return out


class Partition(_Entity):
    """One partition of a table whose partitions are not tables of their own (MySQL).

    ``bound`` is its bound as the engine's DDL says it (``VALUES LESS THAN (2024)``,
    ``VALUES IN (1,2)``, ``DEFAULT``), None for HASH and KEY partitions;
    ``subpartitions`` are its subpartitions' names.
    """

    name: str
    bound: str | None = None
    subpartitions: tuple[str, ...] | None = None


class Partitioning(_Entity):
    """How a partitioned table splits its rows: strategy, key columns and key expression.

    Where partitions are tables (PostgreSQL) they are Table entities with ``partition_of``;
    where they are not (MySQL/MariaDB), they are listed in ``partitions``, and
    ``subpartitioning`` says how each of them is split again.
    """

    strategy: str
    columns: tuple[str, ...] = ()
    expression: str | None = None
    partitions: tuple[Partition, ...] | None = None
    subpartitioning: Partitioning | None = None


class UniqueIndex(_Entity):
    """A unique index that is not a column constraint: on expressions, or partial.

    ``columns`` has one entry per key part, None where the part is an expression;
    ``expressions`` are those expressions' texts in key order; ``predicate`` is the WHERE
    clause of a partial index.
    """

    name: str
    columns: tuple[str | None, ...]
    expressions: tuple[str, ...] = ()
    predicate: str | None = None


_INTERVAL_TYPES = {"range": "TIME-UNIT", "list": "COLUMN-VALUE", "hash": "COLUMN-VALUE"}


class Table(_Entity):
    """A table, view, materialized view, partitioned table, partition or foreign table.

    ``partitioning`` describes a partitioned table's key; ``partition_of`` is the FQN of the
    parent of a partition and ``partition_bound`` its bound (``FOR VALUES ...``).
    ``engine_table_type`` keeps the engine's own kind where it is finer than ``table_type``
    (MariaDB ``SYSTEM VERSIONED`` or ``SEQUENCE``, say).

    ``view_definition`` is, on every engine, the view's query alone — the text after
    ``CREATE VIEW name AS``, without a trailing semicolon — as the engine keeps or prints it;
    ``to_openmetadata()`` gives OpenMetadata's ``schemaDefinition`` the whole
    ``CREATE VIEW schema.name AS ...`` statement. ``unique_indexes`` are the unique indexes
    that cannot be UNIQUE constraints (partial, or on expressions).
    ``owner`` is the owning role (PostgreSQL) or a view's DEFINER (MySQL), with
    ``include_owners``; ``ddl`` is the ``CREATE TABLE`` statement rendered from these fields,
    with ``include_ddl``. ``row_estimate`` and ``size_bytes`` are the catalog's statistics
    (approximate, and they change without DDL: never part of change detection).
    """

    name: str
    database_schema: str
    table_type: TableType = TableType.Regular
    description: str | None = None
    columns: tuple[Column, ...] = ()
    constraints: tuple[TableConstraint, ...] = ()
    view_definition: str | None = None
    partitioning: Partitioning | None = None
    partition_of: str | None = None
    partition_bound: str | None = None
    engine_table_type: str | None = None
    unique_indexes: tuple[UniqueIndex, ...] | None = None
    lineage: ViewLineage | None = None
    owner: str | None = None
    ddl: str | None = None
    row_estimate: int | None = None
    size_bytes: int | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fqn(self) -> str:
        """Fully qualified name: ``service.database.schema.table``."""
        return f"{self.database_schema}.{quote_name(self.name)}"

    def to_openmetadata(self) -> dict[str, Any]:
        """The table as a CreateTableRequest payload."""
        single: dict[str, str] = {}
        for constraint in self.constraints:
            if len(constraint.columns) == 1 and constraint.constraint_type in (
                ConstraintType.PRIMARY_KEY,
                ConstraintType.UNIQUE,
            ):
                column = constraint.columns[0]
                if single.get(column) != "PRIMARY_KEY":
                    single[column] = constraint.constraint_type.value
        out: dict[str, Any] = {
            "name": self.name,
            "tableType": self.table_type.value,
            "columns": [c.to_openmetadata(single.get(c.name)) for c in self.columns],
            "databaseSchema": self.database_schema,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.constraints:
            out["tableConstraints"] = [c.to_openmetadata() for c in self.constraints]
        if self.view_definition is not None:
            out["schemaDefinition"] = self.view_statement()
        if self.partitioning is not None and self.partitioning.columns:
            # by the method's first word: RANGE COLUMNS is a RANGE, LINEAR HASH a HASH
            words = self.partitioning.strategy.lower().removeprefix("linear ").split()
            interval = _INTERVAL_TYPES.get(words[0] if words else "", "OTHER")
            out["tablePartition"] = {
                "columns": [
                    {"columnName": name, "intervalType": interval}
                    for name in self.partitioning.columns
                ]
            }
        if self.ddl is not None:
            out["schemaDefinition"] = self.ddl
        return out

    def view_statement(self) -> str | None:
        """The whole ``CREATE [MATERIALIZED] VIEW schema.name AS query`` statement of a view.

        Names are quoted the SQL standard's way (double quotes) where they need it.
        """
        if self.view_definition is None:
            return None
        kind = "MATERIALIZED VIEW" if self.table_type is TableType.MaterializedView else "VIEW"
        schema = split_fqn(self.database_schema)[-1]
        name = f"{_sql_name(schema)}.{_sql_name(self.name)}"
        return f"CREATE {kind} {name} AS {self.view_definition}"


_PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_$]*")


def _sql_name(name: str) -> str:
    if _PLAIN_NAME.fullmatch(name):
        return name
    return '"' + name.replace('"', '""') + '"'


class DatabaseSchema(_Entity):
    """A schema (namespace) inside a database."""

    name: str
    database: str
    description: str | None = None
    owner: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fqn(self) -> str:
        """Fully qualified name: ``service.database.schema``."""
        return f"{self.database}.{quote_name(self.name)}"

    def to_openmetadata(self) -> dict[str, Any]:
        """The schema as a CreateDatabaseSchemaRequest payload."""
        out: dict[str, Any] = {"name": self.name, "database": self.database}
        if self.description is not None:
            out["description"] = self.description
        return out


class Database(_Entity):
    """A database of a database service."""

    name: str
    service: str
    description: str | None = None
    owner: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fqn(self) -> str:
        """Fully qualified name: ``service.database``."""
        return f"{quote_name(self.service)}.{quote_name(self.name)}"

    def to_openmetadata(self) -> dict[str, Any]:
        """The database as a CreateDatabaseRequest payload."""
        out: dict[str, Any] = {"name": self.name, "service": quote_name(self.service)}
        if self.description is not None:
            out["description"] = self.description
        return out
