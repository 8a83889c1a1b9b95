"""Reflection of one schema through SQLAlchemy's Inspector, and entities from what it returns.

``reflect_schema`` runs the bulk ``Inspector.get_multi_*`` calls for one schema on a sync
``Connection`` (in a worker thread, or inside ``AsyncConnection.run_sync``) and returns a
``Reflected``: plain data in the Inspector's own shapes, keyed by table name. A dialect whose
Inspector does not work (DuckDB, see ``sqlalchemy_duckdb``) builds the same ``Reflected``
from its own catalog. ``build_tables`` turns it into entities without touching the database.

The Inspector has no bulk variant of ``get_view_definition``: views cost one query each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.interfaces import (
    ReflectedColumn,
    ReflectedForeignKeyConstraint,
    ReflectedPrimaryKeyConstraint,
    ReflectedUniqueConstraint,
)
from sqlalchemy.engine.reflection import ObjectKind
from sqlalchemy.sql.type_api import TypeEngine

from metaingest.entities import (
    Column,
    ConstraintType,
    DatabaseSchema,
    Table,
    TableConstraint,
    TableType,
    UniqueIndex,
    build_fqn,
)

from .sqlalchemy_types import sqlalchemy_type
from .sqltext import view_query

__all__ = ["Reflected", "build_tables", "list_schemas", "reflect_schema", "type_display"]


@dataclass(slots=True)
class Reflected:
    """One schema's catalog in the Inspector's shapes, keyed by table name."""

    kinds: dict[str, TableType] = field(default_factory=dict)
    columns: dict[str, list[ReflectedColumn]] = field(default_factory=dict)
    primary_keys: dict[str, ReflectedPrimaryKeyConstraint] = field(default_factory=dict)
    unique_constraints: dict[str, list[ReflectedUniqueConstraint]] = field(default_factory=dict)
    foreign_keys: dict[str, list[ReflectedForeignKeyConstraint]] = field(default_factory=dict)
    comments: dict[str, str | None] = field(default_factory=dict)
    view_definitions: dict[str, str | None] = field(default_factory=dict)
    # The engine's own type spelling, where it is better than the compiled SQLAlchemy type.
    type_displays: dict[tuple[str, str], str] = field(default_factory=dict)
    # (table, name) of the unique_constraints that are unique indexes with no constraint
    index_uniques: set[tuple[str, str]] = field(default_factory=set)
    # unique indexes that cannot be constraints (on expressions, or partial)
    unique_indexes: dict[str, list[UniqueIndex]] = field(default_factory=dict)


def list_schemas(connection: Connection) -> list[tuple[str, str | None]]:
    """Schema names (with no comment: the Inspector has no schema comments)."""
    return [(name, None) for name in inspect(connection).get_schema_names()]


def _by_name(result: dict[tuple[str | None, str], Any]) -> dict[str, Any]:
    return {name: value for (_, name), value in result.items()}


def reflect_schema(connection: Connection, schema: str) -> Reflected:
    """Reflect every table and view of ``schema`` with the Inspector's bulk calls."""
    inspector = inspect(connection)
    views = set(inspector.get_view_names(schema))
    try:
        materialized = set(inspector.get_materialized_view_names(schema))
    except NotImplementedError:
        materialized = set()
    every, tables = ObjectKind.ANY, ObjectKind.TABLE
    out = Reflected(
        columns=_by_name(inspector.get_multi_columns(schema, kind=every)),
        primary_keys=_by_name(inspector.get_multi_pk_constraint(schema, kind=tables)),
        unique_constraints=_by_name(inspector.get_multi_unique_constraints(schema, kind=tables)),
        foreign_keys=_by_name(inspector.get_multi_foreign_keys(schema, kind=tables)),
    )
    if connection.dialect.supports_comments:
        comments = inspector.get_multi_table_comment(schema, kind=every)
        out.comments = {name: value.get("text") for (_, name), value in comments.items()}
    for name in out.columns:
        if name in materialized:
            out.kinds[name] = TableType.MaterializedView
        elif name in views:
            out.kinds[name] = TableType.View
        else:
            out.kinds[name] = TableType.Regular
        if name in views or name in materialized:
            try:
                out.view_definitions[name] = inspector.get_view_definition(name, schema)
            except NotImplementedError:
                out.view_definitions[name] = None
    return out


def type_display(type_: TypeEngine[Any], dialect: Dialect) -> str:
    """The dialect's DDL spelling of a type, or its repr when the dialect cannot compile it."""
    try:
        return str(type_.compile(dialect=dialect))
    except Exception:  # NullType and foreign types do not compile; their repr still says what
        return repr(type_)


def _identity(column: ReflectedColumn) -> str | None:
    identity = column.get("identity")
    if identity is not None:
        return "ALWAYS" if identity.get("always") else "BY DEFAULT"
    if column.get("autoincrement") is True:
        return "AUTO_INCREMENT"
    return None


def _column(
    table: str, position: int, column: ReflectedColumn, reflected: Reflected, dialect: Dialect
) -> Column:
    mapped = sqlalchemy_type(column["type"])
    computed = column.get("computed")
    display = reflected.type_displays.get((table, column["name"]))
    default = column.get("default")
    return Column(
        name=column["name"],
        ordinal_position=position,
        data_type=mapped.data_type,
        data_type_display=display or type_display(column["type"], dialect),
        data_length=mapped.data_length,
        precision=mapped.precision,
        scale=mapped.scale,
        array_data_type=mapped.array_data_type,
        nullable=bool(column.get("nullable", True)) and not mapped.not_null,
        default=None if computed is not None or default is None else str(default),
        generated=str(computed["sqltext"]) if computed is not None else None,
        identity=_identity(column),
        description=column.get("comment"),
    )


def _key(columns: Sequence[str], name: str | None) -> tuple[str, tuple[str, ...]]:
    return (name or "", tuple(columns))


def _constraints(
    table: str, reflected: Reflected, service_schema: tuple[str, str, str]
) -> tuple[TableConstraint, ...]:
    out: list[TableConstraint] = []
    pk = reflected.primary_keys.get(table)
    if pk is not None and pk.get("constrained_columns"):
        out.append(
            TableConstraint(
                constraint_type=ConstraintType.PRIMARY_KEY,
                columns=tuple(pk["constrained_columns"]),
                name=pk.get("name"),
            )
        )
    uniques = reflected.unique_constraints.get(table, [])
    for unique in sorted(uniques, key=lambda u: _key(u["column_names"], u.get("name"))):
        out.append(
            TableConstraint(
                constraint_type=ConstraintType.UNIQUE,
                columns=tuple(unique["column_names"]),
                name=unique.get("name"),
                from_index=True if (table, unique.get("name")) in reflected.index_uniques else None,
            )
        )
    service, database, schema = service_schema
    fks = reflected.foreign_keys.get(table, [])
    for fk in sorted(fks, key=lambda f: _key(f["constrained_columns"], f.get("name"))):
        referred = build_fqn(
            service, database, fk.get("referred_schema") or schema, fk["referred_table"]
        )
        out.append(
            TableConstraint(
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=tuple(fk["constrained_columns"]),
                name=fk.get("name"),
                referred_table=referred,
                referred_columns=tuple(fk["referred_columns"]),
            )
        )
    return tuple(out)


def build_tables(
    reflected: Reflected, schema: DatabaseSchema, service: str, database: str, dialect: Dialect
) -> tuple[Table, ...]:
    """Entities for every reflected table and view of ``schema``, in name order."""
    tables: list[Table] = []
    names = (service, database, schema.name)
    for name in sorted(reflected.kinds):
        columns = reflected.columns.get(name, [])
        tables.append(
            Table(
                name=name,
                database_schema=schema.fqn,
                table_type=reflected.kinds[name],
                description=reflected.comments.get(name),
                columns=tuple(
                    _column(name, i, c, reflected, dialect) for i, c in enumerate(columns, 1)
                ),
                constraints=_constraints(name, reflected, names),
                # the query alone on every engine (SQLite and DuckDB keep the CREATE VIEW)
                view_definition=view_query(reflected.view_definitions.get(name)),
                unique_indexes=tuple(reflected.unique_indexes.get(name, ())) or None,
            )
        )
    return tuple(tables)
