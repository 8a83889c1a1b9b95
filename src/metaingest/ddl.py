"""``CREATE TABLE`` statements rendered from extracted tables (``include_ddl``).

No catalog query is made: a SQLAlchemy ``Table`` is built from the entity (each column's type
is the engine's own spelling, ``data_type_display``, so nothing is lost in a type map) and
SQLAlchemy's ``CreateTable`` is compiled for the source's dialect. SQLAlchemy is imported
only when a run asks for DDL, so the asyncpg and aiomysql connectors do not pay for it.

What it renders: columns with type, NOT NULL, default, generated expression and identity
(PostgreSQL ``GENERATED ... AS IDENTITY``, MySQL ``AUTO_INCREMENT``), column and table
comments where the dialect puts them inline (MySQL), primary key, unique and foreign key
constraints, and a PostgreSQL table's ``PARTITION BY``. Views (their definition says it
all), partitions and foreign tables get none. A default that names another object (a
sequence) needs that object where the statement is run.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Any

from .entities import VIEW_TYPES, ConstraintType, DataType, Table, TableType, split_fqn

if TYPE_CHECKING:
    from sqlalchemy.engine import Dialect

    from .config import SqlAlchemySource, SqliteSource

    _Source = Any

__all__ = ["dialect_name", "render_create_table", "with_ddl"]

_INTEGERS = frozenset({DataType.TINYINT, DataType.SMALLINT, DataType.INT, DataType.BIGINT})
_IDENTITY = ("ALWAYS", "BY DEFAULT")
_DIALECTS = {"postgres": "postgresql", "mysql": "mysql", "mariadb": "mariadb", "sqlite": "sqlite"}


def dialect_name(source: Any) -> str:
    """The SQLAlchemy dialect that speaks the source's SQL (``postgresql``, ``mysql``...)."""
    if source.type == "sqlalchemy":
        from sqlalchemy.engine import make_url

        return str(make_url(source.url.get_secret_value()).get_backend_name())
    return _DIALECTS[source.type]


@cache
def _dialect(name: str) -> Dialect:
    from sqlalchemy.engine import make_url

    dialect: Dialect = make_url(f"{name}://").get_dialect()()
    return dialect


def with_ddl(tables: Sequence[Table], source: SqliteSource | SqlAlchemySource | Any) -> list[Table]:
    """The tables with ``ddl`` set where one is rendered (see the module's docstring)."""
    name = dialect_name(source)
    out = []
    for table in tables:
        ddl = render_create_table(table, name)
        out.append(table if ddl is None else table.model_copy(update={"ddl": ddl}))
    return out


@cache
def _literal_types() -> tuple[type[Any], type[Any]]:
    from sqlalchemy import Integer
    from sqlalchemy.types import UserDefinedType

    class Literal(UserDefinedType[Any]):
        """A column type rendered exactly as the engine spelled it."""

        cache_ok = True

        def __init__(self, spelling: str) -> None:
            self.spelling = spelling

        def get_col_spec(self, **_: Any) -> str:
            return self.spelling

    class IntegerLiteral(Literal):
        """The same, for an integer type: dialects render AUTO_INCREMENT only for these."""

        @property
        def _type_affinity(self) -> Any:
            return Integer

    return Literal, IntegerLiteral


def render_create_table(table: Table, dialect: str) -> str | None:
    """``CREATE TABLE`` for ``table`` in ``dialect``; None for views, partitions, foreign."""
    if (
        table.table_type in VIEW_TYPES
        or table.partition_of is not None
        or table.table_type is TableType.Foreign
    ):
        return None
    import sqlalchemy as sa
    from sqlalchemy.schema import CreateTable

    literal, integer_literal = _literal_types()
    schema = split_fqn(table.database_schema)[-1]
    metadata = sa.MetaData()
    mysql = dialect in ("mysql", "mariadb")
    columns = []
    for column in table.columns:
        integer = column.data_type in _INTEGERS
        args: list[Any] = [
            integer_literal(column.data_type_display)
            if integer
            else literal(column.data_type_display)
        ]
        if column.generated is not None:
            args.append(sa.Computed(sa.text(column.generated), persisted=dialect == "postgresql"))
        if column.identity in _IDENTITY:
            args.append(sa.Identity(always=column.identity == "ALWAYS"))
        # AUTO_INCREMENT is MySQL's; elsewhere autoincrement would render SERIAL and the like
        auto = (column.identity == "AUTO_INCREMENT" and mysql) or column.identity in _IDENTITY
        columns.append(
            sa.Column(
                column.name,
                *args,
                nullable=column.nullable,
                server_default=None if column.default is None else sa.text(column.default),
                autoincrement=auto,
                comment=column.description,
            )
        )
    constraints: list[Any] = []
    for constraint in table.constraints:
        name = constraint.name
        if constraint.constraint_type is ConstraintType.PRIMARY_KEY:
            # MySQL's primary key is always named PRIMARY and takes no other name
            constraints.append(
                sa.PrimaryKeyConstraint(*constraint.columns, name=None if mysql else name)
            )
        elif constraint.constraint_type is ConstraintType.UNIQUE:
            constraints.append(sa.UniqueConstraint(*constraint.columns, name=name))
        elif constraint.referred_table is not None:
            referred_schema, referred = split_fqn(constraint.referred_table)[-2:]
            key = f"{referred_schema}.{referred}"
            if key not in metadata.tables and (referred_schema, referred) != (schema, table.name):
                sa.Table(
                    referred,
                    metadata,
                    *(sa.Column(c) for c in constraint.referred_columns),
                    schema=referred_schema,
                )
            elif key in metadata.tables:
                target = metadata.tables[key]
                for c in constraint.referred_columns:
                    if c not in target.c:
                        target.append_column(sa.Column(c))
            constraints.append(
                sa.ForeignKeyConstraint(
                    list(constraint.columns),
                    [f"{referred_schema}.{referred}.{c}" for c in constraint.referred_columns],
                    name=name,
                )
            )
    options: dict[str, Any] = {}
    if dialect == "postgresql" and table.partitioning is not None and table.partitioning.expression:
        options["postgresql_partition_by"] = table.partitioning.expression
    created = sa.Table(
        table.name,
        metadata,
        *columns,
        *constraints,
        schema=schema,
        comment=table.description,
        **options,
    )
    return str(CreateTable(created).compile(dialect=_dialect(dialect))).strip()
