"""The offline validator itself: it accepts a valid request and rejects broken ones."""

from __future__ import annotations

from metaingest.entities import Column, DataType, Table

from .openmetadata import validation_errors


def test_minimal_table_validates() -> None:
    table = Table(
        name="t",
        database_schema="svc.db.s",
        columns=(
            Column(name="id", ordinal_position=1, data_type=DataType.INT, data_type_display="int"),
        ),
    )
    assert validation_errors("table", table.to_openmetadata()) == []


def test_validator_rejects_bad_payloads() -> None:
    good = {"name": "t", "columns": [], "databaseSchema": "svc.db.s"}
    assert validation_errors("table", good) == []
    assert validation_errors("table", {**good, "tableType": "NotAType"})
    assert validation_errors("table", {"name": "t", "columns": []})  # databaseSchema required
    bad_column = {"name": "c", "dataType": "NOPE"}
    assert validation_errors("table", {**good, "columns": [bad_column]})
    assert validation_errors("database", {"name": "d"})  # service required
