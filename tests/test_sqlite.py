"""The native SQLite connector on the shipped demo catalog and on generated files."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from build_demo import build

from metaingest.config import parse_config
from metaingest.connectors import sqlite as sqlite_connector
from metaingest.entities import ConstraintType, DataType, TableType
from metaingest.errors import SourceError
from metaingest.workflow import Workflow

from .loopwitness import LoopWitness
from .openmetadata import validation_errors

pytestmark = pytest.mark.anyio


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    build(tmp_path / "demo")
    return tmp_path / "demo"


def _config(demo: Path, out: Path, threads: int = 1, **extra: Any) -> Any:
    return parse_config(
        {
            "source": {
                "type": "sqlite",
                "service_name": "demo",
                "path": str(demo / "shop.db"),
                "attach": {
                    "warehouse": str(demo / "warehouse.db"),
                    "people": str(demo / "people.db"),
                },
                "threads": threads,
                **extra,
            },
            "sink": {"type": "jsonl", "path": str(out)},
        }
    )


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_demo_catalog_field_by_field(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    report = await Workflow(_config(demo, out)).run()
    assert report.ok and report.exit_code() == 0
    assert (report.databases, report.schemas, report.tables, report.views) == (1, 3, 8, 2)
    lines = _lines(out)
    assert [(d["kind"], d["fqn"]) for d in lines[:2]] == [
        ("database", "demo.shop"),
        ("databaseSchema", "demo.shop.main"),
    ]
    tables = {d["fqn"]: d for d in lines if d["kind"] == "table"}
    assert sorted(tables) == [
        "demo.shop.main.customers",
        "demo.shop.main.order_lines",
        "demo.shop.main.order_totals",
        "demo.shop.main.orders",
        "demo.shop.main.products",
        "demo.shop.people.departments",
        "demo.shop.people.employees",
        "demo.shop.warehouse.locations",
        "demo.shop.warehouse.low_stock",
        "demo.shop.warehouse.stock",
    ]
    customers = tables["demo.shop.main.customers"]
    assert [c["name"] for c in customers["columns"]] == [
        "id",
        "email",
        "full_name",
        "country",
        "created_at",
    ]
    email, country = customers["columns"][1], customers["columns"][3]
    assert (email["data_type"], email["data_type_display"], email["data_length"]) == (
        DataType.VARCHAR,
        "VARCHAR(255)",
        255,
    )
    assert email["nullable"] is False
    assert (country["data_type"], country["default"], country["nullable"]) == ("CHAR", "'NL'", True)
    assert customers["columns"][0]["nullable"] is False  # INTEGER PRIMARY KEY is the rowid
    assert customers["constraints"] == [
        {"constraint_type": "PRIMARY_KEY", "columns": ["id"], "referred_columns": []},
        {"constraint_type": "UNIQUE", "columns": ["email"], "referred_columns": []},
    ]
    price = tables["demo.shop.main.products"]["columns"][2]
    assert (price["data_type"], price["precision"], price["scale"]) == ("DECIMAL", 10, 2)
    lines_table = tables["demo.shop.main.order_lines"]
    by_type = {c["constraint_type"]: c for c in lines_table["constraints"]}
    assert by_type[ConstraintType.PRIMARY_KEY]["columns"] == ["order_id", "line_no"]
    assert {
        "constraint_type": "UNIQUE",
        "columns": ["order_id", "sku"],
        "name": "order_lines_one_sku",
        "referred_columns": [],
        "from_index": True,  # CREATE UNIQUE INDEX, not a UNIQUE constraint
    } in lines_table["constraints"]
    fks = [c for c in lines_table["constraints"] if c["constraint_type"] == "FOREIGN_KEY"]
    assert {
        "constraint_type": "FOREIGN_KEY",
        "columns": ["sku"],
        "referred_table": "demo.shop.main.products",
        "referred_columns": ["sku"],  # REFERENCES products: its primary key
    } in fks
    view = tables["demo.shop.main.order_totals"]
    assert view["table_type"] == TableType.View
    assert view["view_definition"].startswith("SELECT ")  # the query, not the statement
    assert [c["name"] for c in view["columns"]] == ["order_id", "customer_id", "total"]
    spaced = tables["demo.shop.warehouse.locations"]["columns"][1]
    assert spaced["name"] == "city name"
    employees = tables["demo.shop.people.employees"]
    assert {
        "constraint_type": "FOREIGN_KEY",
        "columns": ["manager_id"],
        "referred_table": "demo.shop.people.employees",
        "referred_columns": ["id"],
    } in employees["constraints"]
    assert employees["columns"][4]["data_type"] == "BLOB"


async def test_threads_give_identical_files(demo: Path, tmp_path: Path) -> None:
    outputs = []
    for threads in (1, 2, 8):
        out = tmp_path / f"out{threads}.jsonl"
        report = await Workflow(_config(demo, out, threads)).run()
        assert report.ok
        assert report.peak_connections <= threads
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


async def test_openmetadata_payloads_validate(demo: Path, tmp_path: Path) -> None:
    config = _config(demo, tmp_path / "o.jsonl")
    workflow = Workflow(config)
    count = 0
    async with workflow.stream() as batches:
        async for batch in batches:
            assert validation_errors("database", batch.database.to_openmetadata()) == []
            assert validation_errors("databaseSchema", batch.schema.to_openmetadata()) == []
            for table in batch.tables:
                assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
                count += 1
    assert count == 10


def _wide_catalog(root: Path, schemas: int, tables: int) -> dict[str, str]:
    attach = {}
    for s in range(schemas):
        path = root / f"s{s}.db"
        with sqlite3.connect(path) as conn:
            conn.executescript(
                "".join(
                    f"CREATE TABLE t{t} (id INTEGER PRIMARY KEY, a VARCHAR(10) UNIQUE, "
                    f"b DECIMAL(8,2), c TEXT REFERENCES t{t} (a));"
                    for t in range(tables)
                )
            )
        conn.close()
        attach[f"s{s}"] = str(path)
    return attach


async def test_extraction_runs_in_worker_threads_without_blocking_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    attach = _wide_catalog(tmp_path, 9, 60)
    main = tmp_path / "main.db"
    sqlite3.connect(main).close()
    config = parse_config(
        {
            "source": {"type": "sqlite", "path": str(main), "attach": attach, "threads": 4},
            "sink": {"type": "jsonl", "path": str(tmp_path / "o.jsonl")},
        }
    )
    # each unit's extraction waits, in its thread, for the loop's ticker to turn
    witness = LoopWitness()
    monkeypatch.setattr(sqlite_connector, "_extract", witness.wrap(sqlite_connector._extract))
    report = await witness.run(Workflow(config).run)
    assert report.ok and report.tables == 9 * 60
    witness.check(calls=9 + 1)  # the attached schemas and main
    assert len(witness.threads) > 1


async def test_broken_view_is_a_warning_not_silence(tmp_path: Path) -> None:
    db = tmp_path / "b.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE base (x INTEGER); CREATE TABLE other (y TEXT);"
            "CREATE VIEW v AS SELECT x FROM base; DROP TABLE base;"
        )
    conn.close()
    config = parse_config(
        {
            "source": {"type": "sqlite", "path": str(db), "service_name": "s"},
            "sink": {"type": "jsonl", "path": str(tmp_path / "o.jsonl")},
        }
    )
    report = await Workflow(config).run()
    assert report.warnings == 1
    assert report.issues[0].fqn == "s.b.main.v"
    assert "base" in report.issues[0].message
    names = [d.get("name") for d in _lines(tmp_path / "o.jsonl") if d["kind"] == "table"]
    assert names == ["other"]


async def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    config = parse_config(
        {
            "source": {"type": "sqlite", "path": str(tmp_path / "nope.db")},
            "sink": {"type": "jsonl", "path": str(tmp_path / "o.jsonl")},
        }
    )
    with pytest.raises(SourceError, match=r"nope\.db: no such database file"):
        await Workflow(config).run()
    assert not (tmp_path / "nope.db").exists()  # read-only: never created
    assert not (tmp_path / "o.jsonl").exists()


async def test_filters_and_view_switches(demo: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.jsonl"
    config = _config(
        demo,
        out,
        include_views=False,
        schema_filter={"excludes": ["^people$"]},
        table_filter={"includes": ["^(orders|order_|stock)"]},
    )
    report = await Workflow(config).run()
    names = [d["fqn"] for d in _lines(out) if d["kind"] == "table"]
    assert names == [
        "demo.shop.main.order_lines",
        "demo.shop.main.orders",
        "demo.shop.warehouse.stock",
    ]
    assert report.filtered.schemas == 1
    assert report.filtered.tables == 5  # customers, products, order_totals, locations, low_stock
