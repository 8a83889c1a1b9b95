"""The MySQL / MariaDB connector against the real MariaDB on loopback: a fixture catalog."""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import SAWarning

from metaingest.config import WorkflowConfig, parse_config
from metaingest.entities import ConstraintType, DataType, Table, TableType, build_fqn
from metaingest.workflow import Workflow
from tests.conftest import MysqlServer
from tests.differential import NATIVE_ONLY, Allowed, d, differences, native_only, unexpected
from tests.differential import collect as collect_differential
from tests.openmetadata import validation_errors, with_ids

pytestmark = [pytest.mark.mysql, pytest.mark.anyio]

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "mysql_catalog.jsonl"
PLACEHOLDER = "mi_test_PREFIX"
STATISTICS = re.compile(r',"(row_estimate|size_bytes)":\d+')


def quote(name: str) -> str:
    """A MySQL identifier in backticks (test fixtures only)."""
    return "`" + name.replace("`", "``") + "`"


def load_fixture(server: MysqlServer, names: dict[str, str]) -> None:
    """Run tests/fixtures/mysql_catalog.sql with @S0@-style placeholders replaced."""
    text = (HERE / "fixtures" / "mysql_catalog.sql").read_text(encoding="utf-8")
    for token, name in names.items():
        text = text.replace(f"@{token}@", quote(name))
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    statements = [s.strip() for s in re.split(r";\s*$", "\n".join(lines), flags=re.M)]
    server.run(*(s for s in statements if s))


@pytest.fixture(scope="module")
def catalog(mysql_server: MysqlServer) -> Iterator[dict[str, str]]:
    """Three schemas loaded with the fixture catalog; their names by role."""
    s0, s1 = mysql_server.create_schemas(2)
    prefix = s0.rsplit("_", 1)[0]
    awk = f'{prefix}_awk.é "q" `b`'
    names = {"prefix": prefix, "S0": s0, "S1": s1, "AWK": awk}
    try:
        mysql_server.run(f"CREATE DATABASE {quote(awk)} CHARACTER SET utf8mb4")
        load_fixture(mysql_server, names)
        yield names
    finally:
        # referrers first; drop_schemas does not escape the backticks of the awkward name
        mysql_server.run(*(f"DROP DATABASE IF EXISTS {quote(n)}" for n in (s1, awk, s0)))


def make_config(
    server: MysqlServer, prefix: str, out: Path, threads: int = 1, **extra: Any
) -> WorkflowConfig:
    source = server.source(
        threads=threads, schema_filter={"includes": ["^" + re.escape(prefix)]}, **extra
    )
    return parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out)}})


async def collect(config: WorkflowConfig) -> dict[tuple[str, str], Table]:
    """Every table of a run by (schema, table) name."""
    tables: dict[tuple[str, str], Table] = {}
    async with Workflow(config).stream() as batches:
        async for batch in batches:
            for table in batch.tables:
                tables[(batch.schema.name, table.name)] = table
    return tables


async def test_catalog_matches_golden(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    report = await Workflow(make_config(mysql_server, catalog["prefix"], out, threads=2)).run()
    assert report.ok, report.issues
    assert (report.schemas, report.tables, report.views, report.errors) == (3, 16, 2, 0)
    text = out.read_text(encoding="utf-8").replace(catalog["prefix"], PLACEHOLDER)
    text = STATISTICS.sub("", text)  # the engine's estimates change without DDL
    if os.environ.get("METAINGEST_REGENERATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


async def test_catalog_entities(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    tables = await collect(make_config(mysql_server, catalog["prefix"], tmp_path / "o.jsonl"))
    s0, s1, awk = catalog["S0"], catalog["S1"], catalog["AWK"]
    assert sorted(name for schema, name in tables if schema == s0) == [
        "customer_orders",
        "customers",
        "defaults",
        "order_lines",
        "order_numbers",
        "orders",
        "price_history",
        "types_mariadb",
        "types_numeric",
        "types_spatial",
        "types_temporal",
        "types_text",
    ]

    customers = tables[(s0, "customers")]
    assert customers.fqn == build_fqn("maria", "default", s0, "customers")
    assert customers.database_schema == build_fqn("maria", "default", s0)
    assert customers.table_type is TableType.Regular
    assert customers.engine_table_type is None
    assert [c.name for c in customers.columns] == ["id", "email", "first_name", "last_name"]
    assert customers.columns[0].identity == "AUTO_INCREMENT"
    assert not customers.columns[0].nullable
    assert [(c.constraint_type, c.name, c.columns) for c in customers.constraints] == [
        (ConstraintType.PRIMARY_KEY, "PRIMARY", ("id",)),
        (ConstraintType.UNIQUE, "uq_customers_email", ("email",)),
        (ConstraintType.UNIQUE, "uq_customers_name", ("last_name", "first_name")),
    ]

    lines = tables[(s0, "order_lines")]
    fk = lines.constraints[-1]
    assert fk.constraint_type is ConstraintType.FOREIGN_KEY
    assert fk.name == "fk_lines_order"
    assert fk.columns == ("customer_id", "order_no")
    assert fk.referred_table == build_fqn("maria", "default", s0, "orders")
    assert fk.referred_columns == ("customer_id", "order_no")
    assert lines.constraints[0].columns == ("customer_id", "order_no", "line_no")

    (_, cross) = tables[(s1, "invoices")].constraints
    assert cross.referred_table == build_fqn("maria", "default", s0, "customers")
    assert cross.referred_columns == ("id",)

    view = tables[(s0, "customer_orders")]
    assert view.table_type is TableType.View
    assert view.description is None
    assert view.view_definition is not None
    assert view.view_definition.startswith("select ")
    assert [c.name for c in view.columns] == ["id", "email", "order_no"]

    versioned = tables[(s0, "price_history")]
    assert (versioned.table_type, versioned.engine_table_type) == (
        TableType.Regular,
        "SYSTEM VERSIONED",
    )
    assert [c.name for c in versioned.columns] == ["sku", "price"]  # row_start/end are hidden
    assert versioned.constraints[0].columns == ("sku",)  # not MariaDB's hidden row_end
    sequence = tables[(s0, "order_numbers")]
    assert (sequence.table_type, sequence.engine_table_type) == (TableType.Regular, "SEQUENCE")
    assert sequence.columns[0].name == "next_not_cached_value"

    generated = {c.name: c for c in tables[(s0, "defaults")].columns}
    assert generated["stored_total"].generated == "`number` * 2"
    assert generated["virtual_label"].generated == "concat('n=',`number`)"
    assert generated["stored_total"].default is None

    # awkward identifiers round-trip exactly, in FQNs too
    awkward = tables[(awk, 'dot.ted "table"')]
    assert [c.name for c in awkward.columns] == ["key `one`", "näme.ü", "'single'"]
    assert awkward.description == 'awkward: "quotes" `ticks` and dots.'
    assert awkward.constraints[1].name == 'uq.näme "x"'
    child = tables[(awk, "表 ü")]
    assert child.constraints[0].name == 'fk "awk".1'
    assert child.constraints[0].columns == ("ref `1`",)
    assert child.constraints[0].referred_table == awkward.fqn
    assert child.constraints[0].referred_columns == ("key `one`",)
    awk_view = tables[(awk, "view `v`.x")]
    assert awk_view.columns[0].name == 'alias "a"'
    assert awk_view.fqn == build_fqn("maria", "default", awk, "view `v`.x")


async def test_types_and_defaults(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    tables = await collect(make_config(mysql_server, catalog["prefix"], tmp_path / "o.jsonl"))
    s0 = catalog["S0"]

    def columns(table: str) -> dict[str, tuple[Any, ...]]:
        return {
            c.name: (c.data_type, c.data_type_display, c.data_length, c.precision, c.scale)
            for c in tables[(s0, table)].columns
        }

    numeric = columns("types_numeric")
    assert numeric["tu"] == (DataType.TINYINT, "tinyint(3) unsigned", None, None, None)
    assert numeric["s"][:2] == (DataType.SMALLINT, "smallint(5) unsigned")
    assert numeric["b"][:2] == (DataType.BIGINT, "bigint(20) unsigned zerofill")
    assert numeric["flag"][:2] == (DataType.TINYINT, "tinyint(1)")
    assert numeric["d"] == (DataType.DECIMAL, "decimal(12,4)", None, 12, 4)
    assert numeric["n"] == (DataType.DECIMAL, "decimal(5,0)", None, 5, 0)
    assert numeric["bits"][:2] == (DataType.BIT, "bit(8)")
    assert numeric["y"][:2] == (DataType.YEAR, "year(4)")

    text = columns("types_text")
    assert text["c"] == (DataType.CHAR, "char(3)", 3, None, None)
    assert text["vc"] == (DataType.VARCHAR, "varchar(255)", 255, None, None)
    assert text["bn"] == (DataType.BINARY, "binary(16)", 16, None, None)
    assert text["vb"] == (DataType.VARBINARY, "varbinary(64)", 64, None, None)
    assert text["e"][:2] == (DataType.ENUM, "enum('small','medium','large')")
    assert text["st"][:2] == (DataType.SET, "set('red','green','blue')")
    assert text["j"][:2] == (DataType.JSON, "longtext")  # MariaDB's JSON is an alias
    assert text["lt"][:2] == (DataType.TEXT, "longtext")
    assert text["mt"][0] is DataType.MEDIUMTEXT
    assert (text["mb"][0], text["lb"][0], text["tb"][0]) == (
        DataType.MEDIUMBLOB,
        DataType.LONGBLOB,
        DataType.BLOB,
    )
    assert {k: v[0] for k, v in columns("types_spatial").items()} == {
        "g": DataType.GEOMETRY,
        "p": DataType.POINT,
        "l": DataType.GEOMETRY,
        "pg": DataType.POLYGON,
        "mp": DataType.GEOMETRY,
        "gc": DataType.GEOMETRY,
    }
    assert {k: v[0] for k, v in columns("types_mariadb").items()} == {
        "u": DataType.UUID,
        "i4": DataType.IPV4,
        "i6": DataType.IPV6,
    }
    temporal = columns("types_temporal")
    assert temporal["dt"][:2] == (DataType.DATETIME, "datetime(6)")
    assert temporal["tm"][:2] == (DataType.TIME, "time(3)")

    defaults = {c.name: c.default for c in tables[(s0, "defaults")].columns}
    assert defaults == {
        "no_default": None,
        "null_default": None,  # MariaDB: the text NULL
        "implicit_null": None,
        "text_null": "'NULL'",  # the four-letter string
        "empty_text": "''",
        "quoted": "'it''s'",
        "number": "42",
        "negative": "-1.25",
        "expression": "(1 + 1)",
        "created": "current_timestamp()",
        "stored_total": None,
        "virtual_label": None,
    }
    other = {
        (t, c.name): c.default
        for t in ("types_numeric", "types_text", "types_temporal", "types_mariadb")
        for c in tables[(s0, t)].columns
    }
    assert other[("types_numeric", "bits")] == "b'101'"
    assert other[("types_numeric", "d")] == "1.5000"
    assert other[("types_text", "e")] == "'medium'"
    assert other[("types_text", "st")] == "'red,blue'"
    assert other[("types_temporal", "d")] == "'2020-01-31'"
    assert other[("types_temporal", "ts")] == "current_timestamp()"
    assert other[("types_mariadb", "u")] == "uuid()"


async def test_utf8mb4_comments(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    tables = await collect(make_config(mysql_server, catalog["prefix"], tmp_path / "o.jsonl"))
    customers = tables[(catalog["S0"], "customers")]
    # What the server itself stores: MariaDB keeps comments in utf8mb3, so it turns a
    # character outside the BMP into "?" when the table is created; the rest is exact.
    (row,) = mysql_server.run(
        "SELECT TABLE_COMMENT FROM information_schema.TABLES "
        f"WHERE TABLE_SCHEMA = '{catalog['S0']}' AND TABLE_NAME = 'customers'"
    )
    assert customers.description == row[0]
    assert customers.description is not None
    assert customers.description.startswith("Клиенты — 顧客 — émojis ")
    assert customers.columns[0].description is not None
    assert customers.columns[0].description.startswith("Идентификатор клиента 客户 ")
    assert tables[(catalog["S0"], "types_numeric")].description == "numbers of every width"


async def test_openmetadata_payloads_validate(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    tables = await collect(make_config(mysql_server, catalog["prefix"], tmp_path / "o.jsonl"))
    assert len(tables) == 18
    for table in tables.values():
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn


async def test_threads_do_not_change_output(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    outputs = []
    for threads in (1, 8):
        out = tmp_path / f"threads-{threads}.jsonl"
        report = await Workflow(make_config(mysql_server, catalog["prefix"], out, threads)).run()
        assert report.ok
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]
    assert len(outputs[0].splitlines()) == 1 + 3 + 18 + 3  # database, schemas, tables, routines


async def test_openmetadata_jsonl_lines(
    mysql_server: MysqlServer, catalog: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "om.jsonl"
    config = make_config(mysql_server, catalog["prefix"], out)
    data = config.model_dump(mode="python")
    data["sink"]["format"] = "openmetadata"
    await Workflow(parse_config(data)).run()
    kinds = [json.loads(line)["kind"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert kinds.count("table") == 18
    assert kinds.count("storedProcedure") == 3
    for line in out.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        request = record["request"]
        if record["kind"] == "lineage":  # named by FQN: valid once a server's ids are in
            request = with_ids(request)
        assert validation_errors(record["kind"], request) == [], record["fqn"]


# The differential with the generic connector (mysql+aiomysql, SQLAlchemy's MariaDB
# reflection): tables by "schema.table" with the run's prefix masked as mi_test_PREFIX.
S0, S1 = f"{PLACEHOLDER}_0", f"{PLACEHOLDER}_1"
AWK = f'{PLACEHOLDER}_awk.é "q" `b`'
_VIEW = (
    "SQLAlchemy reflects a MariaDB view's columns from DESCRIBE: every column nullable, "
    "defaults quoted as strings, no comments"
)
_TICKS = (
    "SQLAlchemy bug: its MySQL reflection parses SHOW CREATE TABLE and does not unescape a "
    "doubled backtick in a name (it also drops the foreign key of such columns)"
)
_PK_NAME = "SQLAlchemy's MySQL reflection names no primary key (MariaDB calls each PRIMARY)"
_NO_TYPE = "SQLAlchemy's MySQL dialect does not know the type (NullType, with an SAWarning)"
DIFFERENTIAL_ALLOWED = (
    *(
        Allowed(d(table, "", "PRIMARY_KEY name", "PRIMARY", None), _PK_NAME)
        for table in (
            f"{S0}.customers",
            f"{S0}.order_lines",
            f"{S0}.orders",
            f"{S0}.price_history",
            f"{S0}.types_numeric",
            f"{S1}.invoices",
        )
    ),
    Allowed(
        d(f"{S0}.order_numbers", "", "present", True, False),
        "SQLAlchemy's Inspector lists no MariaDB SEQUENCE among tables or views",
    ),
    *(
        Allowed(d(f"{S0}.customer_orders", column, "nullable", False, True), _VIEW)
        for column in ("id", "email", "order_no")
    ),
    Allowed(d(f"{S0}.customer_orders", "id", "default", "0", "'0'"), _VIEW),
    Allowed(
        d(f"{S0}.customer_orders", "id", "description", "Идентификатор клиента 客户 ?", None),
        _VIEW,
    ),
    Allowed(d(f"{AWK}.view `v`.x", 'alias "a"', "nullable", False, True), _VIEW),
    Allowed(
        d(
            f'{AWK}.dot.ted "table"',
            "",
            "columns",
            ("key `one`", "näme.ü", "'single'"),
            ("key ``one``", "näme.ü", "'single'"),
        ),
        _TICKS,
    ),
    Allowed(d(f"{AWK}.表 ü", "", "columns", ("ref `1`",), ("ref ``1``",)), _TICKS),
    *(
        Allowed(
            d(f"{S0}.defaults", column, "generated", native, f"({native})"),
            "SQLAlchemy keeps the parentheses of SHOW CREATE TABLE's AS (...); the native "
            "connector reads information_schema's GENERATION_EXPRESSION",
        )
        for column, native in (
            ("stored_total", "`number` * 2"),
            ("virtual_label", "concat('n=',`number`)"),
        )
    ),
    Allowed(
        d(f"{S0}.types_numeric", "bits", "default", "b'101'", None),
        "SQLAlchemy's MySQL reflection returns no default for a BIT column",
    ),
    Allowed(
        d(
            f"{S0}.types_temporal",
            "ts",
            "default",
            "current_timestamp()",
            "current_timestamp() ON UPDATE current_timestamp()",
        ),
        "SQLAlchemy's MySQL reflection appends the ON UPDATE clause to the default",
    ),
    Allowed(
        d(f"{S0}.types_text", "j", "data_type", DataType.JSON, DataType.TEXT),
        "SQLAlchemy sees MariaDB's JSON as what it is stored as, LONGTEXT; the native "
        "connector reads the json_valid CHECK that marks it",
    ),
    Allowed(d(f"{S0}.types_mariadb", "i4", "data_type", DataType.IPV4, DataType.UNKNOWN), _NO_TYPE),
    Allowed(d(f"{S0}.types_mariadb", "i6", "data_type", DataType.IPV6, DataType.UNKNOWN), _NO_TYPE),
    *(
        Allowed(d(f"{S0}.types_spatial", column, "data_type", native, DataType.UNKNOWN), _NO_TYPE)
        for column, native in (
            ("g", DataType.GEOMETRY),
            ("p", DataType.POINT),
            ("l", DataType.GEOMETRY),
            ("pg", DataType.POLYGON),
            ("mp", DataType.GEOMETRY),
            ("gc", DataType.GEOMETRY),
        )
    ),
)
_NO_PARTITIONS = "SQLAlchemy's Inspector has no partitioned table kind: every table is Regular"
_FLOAT_ARGS = (
    "the generic connector's type map keeps precision and scale of exact numerics only; the "
    "native connector keeps a declared FLOAT(M,D) / DOUBLE(M,D)"
)
_ONLY_NATIVE = "SQLAlchemy's Inspector has no such column attribute"
DIFFERENTIAL_ALLOWED += (
    Allowed(d(f"{S1}.regions", "", "table_type", "Partitioned", "Regular"), _NO_PARTITIONS),
    Allowed(d(f"{S1}.sales_by_year", "", "table_type", "Partitioned", "Regular"), _NO_PARTITIONS),
    *(
        Allowed(d(f"{S1}.sales_by_year", column, field, native, None), _FLOAT_ARGS)
        for column, field, native in (
            ("amount", "precision", 7),
            ("amount", "scale", 3),
            ("total", "precision", 10),
            ("total", "scale", 2),
        )
    ),
    Allowed(d(f"{S1}.sales_by_year", "note", "invisible", True, None), _ONLY_NATIVE),
    *(
        Allowed(d(table, column, "on_update", "current_timestamp()", None), _ONLY_NATIVE)
        for table, column in ((f"{S1}.sales_by_year", "changed"), (f"{S0}.types_temporal", "ts"))
    ),
)
# SQLAlchemy's warnings for the NullType columns and the dropped foreign key (ALLOWED above)
_SAWARNINGS = (
    r"Did not recognize type '(inet4|inet6|geometry|point|linestring|polygon|multipolygon"
    r"|geometrycollection)' of column",
    r"Unknown schema content: .*FOREIGN KEY \(`ref ``1```\)",
)


async def test_differential_with_sqlalchemy_connector(
    mysql_server: MysqlServer, catalog: dict[str, str]
) -> None:
    """Native ``mysql`` and generic ``sqlalchemy`` (mysql+aiomysql) agree on the catalog.

    The same tables and views exist on both sides; each agrees on kind, comment, column
    names in order, position, nullability, DataType, array type, length, precision, scale,
    default, generation expression, identity, comment and PRIMARY KEY / UNIQUE / FOREIGN
    KEY constraint, but for the ``DIFFERENTIAL_ALLOWED`` differences, each with its reason;
    an allow-list entry that no longer occurs fails too. View definitions are not compared.
    """
    schema_filter = {"includes": ["^" + re.escape(catalog["prefix"])]}
    routines: dict[str, list[str]] = {"native": [], "generic": []}
    native = await collect_differential(
        mysql_server.source(schema_filter=schema_filter), routines["native"]
    )
    url = f"mysql+aiomysql://{mysql_server.user}@{mysql_server.host}:{mysql_server.port}/"
    with warnings.catch_warnings():
        for message in _SAWARNINGS:
            warnings.filterwarnings("ignore", message, category=SAWarning)
        generic = await collect_differential(
            {
                "type": "sqlalchemy",
                "url": url + "?charset=utf8mb4",
                "service_name": "maria",
                "schema_filter": schema_filter,
            },
            routines["generic"],
        )
    assert len(native) == 18
    found = differences(native, generic, {catalog["prefix"]: PLACEHOLDER})
    extra, stale = unexpected(found, DIFFERENTIAL_ALLOWED)
    assert extra == []
    assert stale == [], "stale DIFFERENTIAL_ALLOWED entries: remove them"
    # what only the native connector reads: view DEFINERs, statistics (NATIVE_ONLY), routines
    assert native_only(found) == set(NATIVE_ONLY)
    masked = {
        side: [n.replace(catalog["prefix"], PLACEHOLDER) for n in names]
        for side, names in routines.items()
    }
    assert masked == {
        "native": [f"{S0}.order_total (FUNCTION)", f"{S0}.order_total (PROCEDURE)", f"{S0}.purge"],
        "generic": [],
    }
