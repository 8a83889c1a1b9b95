"""FQN quoting and OpenMetadata payloads of the entity models."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from metaingest.entities import (
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DataType,
    Partitioning,
    Table,
    TableConstraint,
    TableType,
    build_fqn,
    quote_name,
    split_fqn,
)

from .openmetadata import validation_errors


@pytest.mark.parametrize(
    "name",
    ["plain", "a.b", 'q"uote', 'q".d', "back\\slash.dot\\", '"leading', "emoji 🦆.x", "", "a..b"],
)
def test_fqn_round_trip(name: str) -> None:
    fqn = build_fqn("svc", name, "tbl")
    assert split_fqn(fqn) == ["svc", name, "tbl"]


def test_quoting_follows_openmetadata() -> None:
    assert quote_name("a") == "a"
    assert quote_name("a.b") == '"a.b"'
    assert build_fqn("svc", "db", "sch.ema", "t") == 'svc.db."sch.ema".t'


def test_entities_are_frozen() -> None:
    db = Database(name="d", service="s")
    with pytest.raises(ValidationError):
        db.name = "other"  # type: ignore[misc]


def test_table_payload_maps_every_field() -> None:
    schema = DatabaseSchema(name="s", database="svc.d", description="the schema")
    table = Table(
        name="orders",
        database_schema=schema.fqn,
        table_type=TableType.Partitioned,
        description="Orders",
        columns=(
            Column(
                name="id",
                ordinal_position=1,
                data_type=DataType.BIGINT,
                data_type_display="bigint",
                nullable=False,
            ),
            Column(
                name="code",
                ordinal_position=2,
                data_type=DataType.VARCHAR,
                data_type_display="character varying",
                nullable=False,
            ),
            Column(
                name="tags",
                ordinal_position=3,
                data_type=DataType.ARRAY,
                data_type_display="text[]",
                array_data_type=DataType.TEXT,
                description="labels",
            ),
        ),
        constraints=(
            TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=("id",)),
            TableConstraint(constraint_type=ConstraintType.UNIQUE, columns=("code",)),
            TableConstraint(
                constraint_type=ConstraintType.FOREIGN_KEY,
                columns=("code",),
                referred_table='svc.d."o.ther".t',
                referred_columns=("c",),
            ),
        ),
        partitioning=Partitioning(strategy="range", columns=("id",), expression="RANGE (id)"),
    )
    payload = table.to_openmetadata()
    assert validation_errors("table", payload) == []
    assert validation_errors("databaseSchema", schema.to_openmetadata()) == []
    assert payload["tableType"] == "Partitioned"
    assert [c["constraint"] for c in payload["columns"]] == ["PRIMARY_KEY", "UNIQUE", "NULL"]
    assert payload["columns"][1]["dataLength"] == 1  # OpenMetadata requires one for VARCHAR
    assert payload["columns"][2]["arrayDataType"] == "TEXT"
    assert payload["tableConstraints"][2]["referredColumns"] == ['svc.d."o.ther".t.c']
    assert payload["tablePartition"] == {
        "columns": [{"columnName": "id", "intervalType": "TIME-UNIT"}]
    }
    assert table.fqn == "svc.d.s.orders"
