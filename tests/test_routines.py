"""StoredProcedure entities, their naming rules, and how a run carries them to the sink."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metaingest.connectors.base import SchemaBatch
from metaingest.entities import Column, Database, DatabaseSchema, DataType, Table
from metaingest.report import Report
from metaingest.routines import (
    ProcedureType,
    StoredProcedure,
    openmetadata_language,
    postgres_routine_name,
    unique_mysql_names,
)
from metaingest.sinks.jsonl import JsonlSink
from metaingest.summary import summary_cells

from .openmetadata import validation_errors

pytestmark = pytest.mark.anyio


def _routine(
    schema: str, name: str, kind: ProcedureType = ProcedureType.Function
) -> StoredProcedure:
    return StoredProcedure(
        name=name,
        database_schema=schema,
        routine_name=name.split("(")[0],
        procedure_type=kind,
        language="plpgsql",
        definition=f"CREATE FUNCTION {name} ...",
    )


def test_postgres_names_are_unique_and_bounded() -> None:
    assert postgres_routine_name("f", "") == "f()"
    assert postgres_routine_name("f", "integer, text") == "f(integer, text)"
    long_a = postgres_routine_name("f", ", ".join(["character varying"] * 20) + ", integer")
    long_b = postgres_routine_name("f", ", ".join(["character varying"] * 20) + ", bigint")
    assert len(long_a) == len(long_b) == 256
    assert long_a != long_b and long_a[:243] == long_b[:243]  # cut, then a digest of the whole
    many = ", ".join(["integer"] * 50)
    assert postgres_routine_name("f", many) == postgres_routine_name("f", many)  # stable


def test_mysql_names_tell_a_function_from_a_procedure_only_when_they_share_a_name() -> None:
    names = unique_mysql_names(
        [("total", "FUNCTION"), ("Total", "PROCEDURE"), ("purge", "PROCEDURE")]
    )
    assert names == {
        ("total", "FUNCTION"): "total (FUNCTION)",
        ("Total", "PROCEDURE"): "Total (PROCEDURE)",
        ("purge", "PROCEDURE"): "purge",
    }


def test_languages_map_to_openmetadata_enum() -> None:
    assert [openmetadata_language(x) for x in ("sql", "plpgsql", "SQL", "plpython3u")] == [
        "SQL",
        "SQL",
        "SQL",
        "Python",
    ]
    assert openmetadata_language("c") == openmetadata_language(None) == "External"


def test_payload_validates_with_a_dotted_schema() -> None:
    routine = _routine('svc.db."a.b"', "f(integer)")
    assert routine.fqn == 'svc.db."a.b".f(integer)'
    assert validation_errors("storedProcedure", routine.to_openmetadata()) == []
    payload = routine.model_copy(update={"definition": None}).to_openmetadata()
    assert payload["storedProcedureCode"] == {"language": "SQL", "code": ""}
    assert validation_errors("storedProcedure", payload) == []


@pytest.mark.parametrize("fmt", ["entities", "openmetadata"])
async def test_jsonl_writes_routines_after_tables_in_name_order(tmp_path: Path, fmt: str) -> None:
    database = Database(name="d", service="svc")
    schema = DatabaseSchema(name="s", database=database.fqn)
    column = Column(name="id", ordinal_position=1, data_type=DataType.INT, data_type_display="int")
    tables = tuple(Table(name=n, database_schema=schema.fqn, columns=(column,)) for n in "ba")
    routines = (_routine(schema.fqn, "g()"), _routine(schema.fqn, "f(integer)"))
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out, format=fmt)  # type: ignore[arg-type]
    await sink.write(SchemaBatch(database, schema, tables, procedures=routines))
    await sink.aclose(commit=True)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [(x["kind"], x["fqn"]) for x in lines] == [
        ("database", "svc.d"),
        ("databaseSchema", "svc.d.s"),
        ("table", "svc.d.s.a"),
        ("table", "svc.d.s.b"),
        ("storedProcedure", "svc.d.s.f(integer)"),
        ("storedProcedure", "svc.d.s.g()"),
    ]
    if fmt == "openmetadata":
        for line in lines:
            assert validation_errors(line["kind"], line["request"]) == [], line["fqn"]
    else:
        assert lines[-1]["procedure_type"] == "Function"


def test_summary_shows_routines_only_when_there_are_some() -> None:
    assert "procedures" not in dict(summary_cells(Report()))
    assert dict(summary_cells(Report(stored_procedures=7)))["procedures"] == "7"
