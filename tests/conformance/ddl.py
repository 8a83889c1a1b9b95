"""Per-engine DDL for the neutral catalog: type spellings, identifier quoting, comments.

Identifiers are quoted by the engine's own SQLAlchemy dialect (``quote_identifier``), so a
name with quotes, dots, spaces or upper case reaches the engine byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from .catalog import Catalog, Col, TableSpec, ViewSpec

__all__ = ["ENGINES", "EngineDDL", "render"]


@dataclass(frozen=True)
class EngineDDL:
    """What an engine can hold and how to spell it.

    ``types`` maps a family to the engine's spelling (``{n}`` length, ``{p},{s}``
    precision and scale); a family missing from it is not created on that engine.
    ``qualified_refs``: a foreign key or view may name its table with a schema (SQLite
    resolves those inside the referrer's own file, and refuses a schema prefix in a view).
    """

    name: str
    quote: Callable[[str], str]
    types: Mapping[str, str]
    comments: Literal["comment on", "inline", "none"]
    view_comments: bool
    cross_schema_fk: bool
    qualified_refs: bool = True

    def has(self, column: Col) -> bool:
        """Whether ``column``'s family exists on this engine."""
        return column.family in self.types


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _dialect_quote(module: str) -> Callable[[str], str]:
    if module == "duckdb":
        from duckdb_engine import Dialect

        return Dialect().identifier_preparer.quote_identifier
    from importlib import import_module

    dialect = import_module(f"sqlalchemy.dialects.{module}").dialect()
    return dialect.identifier_preparer.quote_identifier


_COMMON = {
    "smallint": "SMALLINT",
    "integer": "INTEGER",
    "bigint": "BIGINT",
    "decimal": "DECIMAL({p},{s})",
    "float": "FLOAT",
    "double": "DOUBLE",
    "varchar": "VARCHAR({n})",
    "char": "CHAR({n})",
    "text": "TEXT",
    "boolean": "BOOLEAN",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
    "time": "TIME",
    "binary": "BLOB",
    "json": "JSON",
    "uuid": "UUID",
}

ENGINES: dict[str, EngineDDL] = {
    "postgres": EngineDDL(
        "postgres",
        _dialect_quote("postgresql"),
        {
            **_COMMON,
            "decimal": "numeric({p},{s})",
            "float": "real",
            "double": "double precision",
            "binary": "bytea",
            "json": "jsonb",
        },
        comments="comment on",
        view_comments=True,
        cross_schema_fk=True,
    ),
    # MariaDB: BOOLEAN is TINYINT(1); DATETIME is the plain timestamp (TIMESTAMP has
    # time-zone conversion and automatic defaults); JSON is LONGTEXT with a CHECK.
    "mysql": EngineDDL(
        "mysql",
        _dialect_quote("mysql"),
        {**_COMMON, "timestamp": "DATETIME"},
        comments="inline",
        view_comments=False,
        cross_schema_fk=True,
    ),
    # SQLite has no JSON or UUID type (only functions on text), and no comments.
    "sqlite": EngineDDL(
        "sqlite",
        _dialect_quote("sqlite"),
        {k: v for k, v in _COMMON.items() if k not in ("json", "uuid")},
        comments="none",
        view_comments=False,
        cross_schema_fk=False,
        qualified_refs=False,
    ),
    "duckdb": EngineDDL(
        "duckdb",
        _dialect_quote("duckdb"),
        _COMMON,
        comments="comment on",
        view_comments=True,
        cross_schema_fk=False,  # "Creating foreign keys across different schemas ... not supported"
    ),
}


def _type(engine: EngineDDL, column: Col) -> str:
    return engine.types[column.family].format(n=column.length, p=column.precision, s=column.scale)


def _column(engine: EngineDDL, column: Col) -> str:
    out = f"{engine.quote(column.name)} {_type(engine, column)}"
    if not column.nullable:
        out += " NOT NULL"
    if column.comment is not None and engine.comments == "inline":
        out += f" COMMENT {_literal(column.comment)}"
    return out


def _names(engine: EngineDDL, names: tuple[str, ...]) -> str:
    return ", ".join(engine.quote(n) for n in names)


def _table(engine: EngineDDL, table: TableSpec, schemas: Mapping[str, str]) -> list[str]:
    q = engine.quote
    fqn = f"{q(schemas[table.schema])}.{q(table.name)}"
    parts = [_column(engine, c) for c in table.columns if engine.has(c)]
    if table.primary_key:
        parts.append(f"PRIMARY KEY ({_names(engine, table.primary_key)})")
    parts += [f"UNIQUE ({_names(engine, u)})" for u in table.uniques]
    for fk in table.foreign_keys:
        target = q(fk.table)
        if fk.schema is not None and fk.schema != table.schema:
            if not engine.cross_schema_fk:
                continue
            target = f"{q(schemas[fk.schema])}.{target}"
        elif engine.qualified_refs:
            target = f"{q(schemas[table.schema])}.{target}"
        parts.append(
            f"FOREIGN KEY ({_names(engine, fk.columns)}) REFERENCES {target}"
            f" ({_names(engine, fk.referred_columns)})"
        )
    create = f"CREATE TABLE {fqn} (\n    " + ",\n    ".join(parts) + "\n)"
    if table.comment is not None and engine.comments == "inline":
        create += f" COMMENT={_literal(table.comment)}"
    out = [create]
    out += [f"ALTER TABLE {fqn} DROP COLUMN {q(name)}" for name in table.dropped]
    if engine.comments == "comment on":
        if table.comment is not None:
            out.append(f"COMMENT ON TABLE {fqn} IS {_literal(table.comment)}")
        out += [
            f"COMMENT ON COLUMN {fqn}.{q(c.name)} IS {_literal(c.comment)}"
            for c in table.columns
            if c.comment is not None and engine.has(c)
        ]
    return out


def _view(engine: EngineDDL, view: ViewSpec, schemas: Mapping[str, str]) -> list[str]:
    q = engine.quote
    fqn = f"{q(schemas[view.schema])}.{q(view.name)}"
    source = q(view.table)
    if engine.qualified_refs:
        source = f"{q(schemas[view.schema])}.{source}"
    select = ", ".join(f"{q(src)} AS {q(name)}" for src, name in view.columns)
    out = [f"CREATE VIEW {fqn} AS SELECT {select} FROM {source}"]
    if view.comment is not None and engine.view_comments:
        out.append(f"COMMENT ON VIEW {fqn} IS {_literal(view.comment)}")
    return out


def render(catalog: Catalog, engine: EngineDDL, schemas: Mapping[str, str]) -> list[str]:
    """Statements creating ``catalog``'s tables and views (not its schemas) on ``engine``."""
    out: list[str] = []
    for table in catalog.tables:
        out += _table(engine, table, schemas)
    for view in catalog.views:
        out += _view(engine, view, schemas)
    return out
