"""``CREATE TABLE`` statements rendered from extracted tables (``include_ddl``).

No catalog query is made: a SQLAlchemy ``Table`` is built from the entity (each column's type
is the engine's own spelling, ``data_type_display``, so nothing is lost in a type map) and
SQLAlchemy's ``CreateTable`` is compiled for the source's dialect. SQLAlchemy is imported
only when a run asks for DDL, so the asyncpg and aiomysql connectors do not pay for it.

What it renders: columns with type, NOT NULL, default, generated expression and identity
(PostgreSQL ``GENERATED ... AS IDENTITY``, MySQL ``AUTO_INCREMENT``), column and table
comments where the dialect puts them inline (MySQL; PostgreSQL and DuckDB have COMMENT ON
statements instead), primary key, unique and foreign key constraints, and a PostgreSQL
table's ``PARTITION BY``. Views (their definition says it
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

    from .config import SourceConfig

__all__ = ["dialect_name", "render_create_table", "with_ddl"]

_INTEGERS = frozenset({DataType.TINYINT, DataType.SMALLINT, DataType.INT, DataType.BIGINT})
_IDENTITY = ("ALWAYS", "BY DEFAULT")
_COMPILE_AS = {"duckdb": "postgresql"}
_DIALECTS = {"postgres": "postgresql", "mysql": "mysql", "mariadb": "mariadb", "sqlite": "sqlite"}


def dialect_name(source: SourceConfig) -> str:
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


def with_ddl(tables: Sequence[Table], source: SourceConfig) -> list[Table]:
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
    mysql = dialect in ("mysql", "mariadb")
    columns = []
    for column in table.columns:
        spelling = column.data_type_display
        if mysql and column.data_type is DataType.JSON:
            spelling = "json"  # MariaDB's JSON is LONGTEXT with a json_valid CHECK: JSON makes both
        integer = column.data_type in _INTEGERS
        args: list[Any] = [integer_literal(spelling) if integer else literal(spelling)]
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
    foreign = []
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
            foreign.append(constraint)
    options: dict[str, Any] = {}
    if dialect == "postgresql" and table.partitioning is not None and table.partitioning.expression:
        options["postgresql_partition_by"] = table.partitioning.expression
    created = sa.Table(
        table.name,
        sa.MetaData(),
        *columns,
        *constraints,
        schema=schema,
        comment=table.description,
        **options,
    )
    # Referred tables as stubs holding the referred columns, each in a MetaData of its own:
    # foreign keys name Column objects, never "schema.table.column" strings, which SQLAlchemy
    # would split at every dot of a name.
    stubs: dict[tuple[str, str], Any] = {(schema, table.name): created}
    for constraint in foreign:
        assert constraint.referred_table is not None
        key = (split_fqn(constraint.referred_table)[-2], split_fqn(constraint.referred_table)[-1])
        stub = stubs.get(key)
        if stub is None:
            stub = stubs[key] = sa.Table(key[1], sa.MetaData(), schema=key[0])
        for column_name in constraint.referred_columns:
            if column_name not in stub.c:
                stub.append_column(sa.Column(column_name, literal("")))
        created.append_constraint(
            sa.ForeignKeyConstraint(
                list(constraint.columns),
                [stub.c[c] for c in constraint.referred_columns],
                name=constraint.name,
            )
        )
    # duckdb_engine's identifier preparer splits a schema name at its dots (into a catalog and
    # a schema); DuckDB's CREATE TABLE is PostgreSQL's, so PostgreSQL's dialect renders it
    compiler = _dialect(_COMPILE_AS.get(dialect, dialect))
    return str(CreateTable(created).compile(dialect=compiler)).strip()
