"""The conformance catalog as neutral Python data: what every engine is asked to hold.

Schemas are named by their logical name here; an engine maps them to physical names (on
MariaDB a schema is a server database, so it carries the run's ``mi_test_*`` prefix; on
SQLite ``core`` is the main file). Tables are listed so that a referred table comes before
its referrers, which is the order the DDL renderers create them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "CATALOG",
    "FAMILIES",
    "Catalog",
    "Col",
    "ForeignKey",
    "TableSpec",
    "ViewSpec",
]

# Type families, each an engine maps to its own type and then to a DataType.
FAMILIES = (
    "smallint",
    "integer",
    "bigint",
    "decimal",
    "float",
    "double",
    "varchar",
    "char",
    "text",
    "boolean",
    "date",
    "timestamp",
    "time",
    "binary",
    "json",
    "uuid",
)


@dataclass(frozen=True)
class Col:
    """A column: a type family with its facets, nullability and comment."""

    name: str
    family: str
    nullable: bool = True
    length: int | None = None
    precision: int | None = None
    scale: int | None = None
    comment: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    """A foreign key; ``schema`` None means the referrer's own schema."""

    columns: tuple[str, ...]
    table: str
    referred_columns: tuple[str, ...]
    schema: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """A base table; the ``dropped`` columns are created, then dropped (leaving a gap)."""

    schema: str
    name: str
    columns: tuple[Col, ...]
    primary_key: tuple[str, ...] = ()
    uniques: tuple[tuple[str, ...], ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    comment: str | None = None
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class ViewSpec:
    """A view projecting ``columns`` (source name, view name) of a table in its own schema."""

    schema: str
    name: str
    table: str
    columns: tuple[tuple[str, str], ...]
    comment: str | None = None


@dataclass(frozen=True)
class Catalog:
    """Schemas, tables and views."""

    schemas: tuple[str, ...]
    tables: tuple[TableSpec, ...]
    views: tuple[ViewSpec, ...] = field(default=())

    def table(self, schema: str, name: str) -> TableSpec:
        """The table ``schema.name``."""
        return next(t for t in self.tables if (t.schema, t.name) == (schema, name))


CORE, OTHER, UNI = "core", "Other Schema", "ünï.code"

_TYPES = TableSpec(
    CORE,
    "all_types",
    (
        Col("id", "integer", nullable=False),
        Col("c_smallint", "smallint"),
        Col("c_integer", "integer"),
        Col("c_bigint", "bigint", nullable=False),
        Col("c_decimal", "decimal", precision=10, scale=2, comment="Money, exact: ¢ and €"),
        Col("c_float", "float"),
        Col("c_double", "double"),
        Col("c_varchar", "varchar", nullable=False, length=40),
        Col("c_char", "char", length=3),
        Col("c_text", "text"),
        Col("c_boolean", "boolean"),
        Col("c_date", "date"),
        Col("c_timestamp", "timestamp"),
        Col("c_time", "time"),
        Col("c_binary", "binary"),
        Col("c_json", "json"),
        Col("c_uuid", "uuid"),
    ),
    primary_key=("id",),
    comment="One column per type family",
)

_PRODUCTS = TableSpec(
    OTHER,
    'Product "Catalog"',
    (
        Col("SKU", "varchar", nullable=False, length=20, comment="Stock keeping unit"),
        Col("Price (€)", "decimal", precision=8, scale=2),
        Col("lower", "text"),
        Col("UPPER", "text"),
        Col("it's", "text"),
    ),
    primary_key=("SKU",),
    comment="Things we sell, it's said",
)

_UPPER = TableSpec(
    OTHER,
    "UPPER.Case",
    (Col("A.B", "integer", nullable=False), Col("Ünïcode ß", "text"), Col("back`tick", "text")),
    primary_key=("A.B",),
)

_CUSTOMERS = TableSpec(
    CORE,
    "customers",
    (
        Col("id", "bigint", nullable=False),
        Col("email", "varchar", nullable=False, length=120, comment="Login e-mail"),
        Col("Full Name", "varchar", length=80),
        Col("region", "char", length=2),
        Col("code", "integer"),
    ),
    primary_key=("id",),
    uniques=(("email",), ("region", "code")),
)

_ORDERS = TableSpec(
    CORE,
    "orders",
    (
        Col("customer_id", "bigint", nullable=False),
        Col("order_no", "integer", nullable=False),
        Col("placed", "date", nullable=False),
    ),
    primary_key=("customer_id", "order_no"),
    foreign_keys=(ForeignKey(("customer_id",), "customers", ("id",)),),
)

_LINES = TableSpec(
    CORE,
    "order lines",
    (
        Col("customer_id", "bigint", nullable=False),
        Col("order_no", "integer", nullable=False),
        Col("line_no", "smallint", nullable=False),
        Col("sku", "varchar", nullable=False, length=20),
        Col("quantity", "integer", nullable=False),
    ),
    # the key lists its columns in another order than the table does
    primary_key=("order_no", "customer_id", "line_no"),
    foreign_keys=(
        ForeignKey(("customer_id", "order_no"), "orders", ("customer_id", "order_no")),
        ForeignKey(("sku",), 'Product "Catalog"', ("SKU",), schema=OTHER),
    ),
    comment="Composite and cross-schema foreign keys",
)

_HISTORY = TableSpec(
    CORE,
    "history",
    (Col("first", "integer"), Col("second", "integer"), Col("third", "text")),
    dropped=("second",),
)

_STRASSE = TableSpec(
    UNI,
    "Straße",
    (
        Col("größe", "integer", nullable=False),
        Col("名前", "varchar", length=30, comment="Name, in Japanese"),
        Col("ref", "integer"),
    ),
    uniques=(("größe",),),
    foreign_keys=(ForeignKey(("ref",), "UPPER.Case", ("A.B",), schema=OTHER),),
)

CATALOG = Catalog(
    schemas=(CORE, OTHER, UNI),
    tables=(_PRODUCTS, _UPPER, _TYPES, _CUSTOMERS, _ORDERS, _LINES, _HISTORY, _STRASSE),
    views=(
        ViewSpec(
            CORE,
            "customer emails",
            "customers",
            (("id", "id"), ("email", "E-Mail")),
            comment="Who can be mailed",
        ),
        ViewSpec(UNI, "Ansicht.ü", "Straße", (("größe", "größe"), ("名前", "Name"))),
    ),
)
