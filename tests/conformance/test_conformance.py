"""One set of assertions every connector passes on the conformance catalog.

Each test compares what one case extracted (``extracted``, see conftest.py) with the neutral
description in catalog.py, through the case's capability record in cases.py. Names are
compared byte for byte; a capability says where an engine legitimately keeps less.
"""

from __future__ import annotations

from collections.abc import Iterator

from metaingest.entities import (
    Column,
    ConstraintType,
    DataType,
    Table,
    TableConstraint,
    TableType,
    build_fqn,
    split_fqn,
)
from tests.openmetadata import validation_errors

from .cases import SERVICE
from .catalog import CATALOG, Col, TableSpec, ViewSpec
from .conftest import Extracted
from .ddl import ENGINES

Key = tuple[str, str]  # (logical schema, name)


def _schemas(ex: Extracted) -> tuple[str, ...]:
    return ex.case.caps.schemas or CATALOG.schemas


def expected_tables(ex: Extracted) -> dict[Key, TableSpec]:
    return {(t.schema, t.name): t for t in CATALOG.tables if t.schema in _schemas(ex)}


def expected_views(ex: Extracted) -> dict[Key, ViewSpec]:
    return {(v.schema, v.name): v for v in CATALOG.views if v.schema in _schemas(ex)}


def columns_of(ex: Extracted, table: TableSpec) -> list[Col]:
    """The table's columns that exist on the case's engine (and were not dropped)."""
    engine = ENGINES[ex.case.engine]
    return [c for c in table.columns if engine.has(c) and c.name not in table.dropped]


def view_columns(ex: Extracted, view: ViewSpec) -> list[tuple[str, Col]]:
    """(view column name, source column) of the columns that exist on the engine."""
    source = {c.name: c for c in columns_of(ex, CATALOG.table(view.schema, view.table))}
    return [(name, source[src]) for src, name in view.columns if src in source]


def actual(ex: Extracted) -> dict[Key, Table]:
    logical = {physical: name for name, physical in ex.target.schemas.items()}
    return {(logical[b.schema.name], t.name): t for b in ex.batches for t in b.tables}


def pairs(ex: Extracted) -> Iterator[tuple[TableSpec, Table]]:
    """Each expected base table with the table extracted for it."""
    found = actual(ex)
    for key, spec in expected_tables(ex).items():
        yield spec, found[key]


def fqn(ex: Extracted, schema: str, name: str) -> str:
    return build_fqn(SERVICE, ex.target.database, ex.target.schemas[schema], name)


def of_kind(table: Table, kind: ConstraintType) -> list[TableConstraint]:
    return [c for c in table.constraints if c.constraint_type is kind]


def test_run_is_clean(extracted: Extracted) -> None:
    report = extracted.report
    assert report.issues == []
    assert report.units_failed == 0
    assert report.units_ok == len(_schemas(extracted))
    assert (report.tables, report.views) == (
        len(expected_tables(extracted)),
        len(expected_views(extracted)),
    )


def test_every_table_and_view_with_its_type(extracted: Extracted) -> None:
    want = {key: TableType.Regular for key in expected_tables(extracted)}
    want |= {key: TableType.View for key in expected_views(extracted)}
    got = {key: table.table_type for key, table in actual(extracted).items()}
    assert got == want


def test_column_names_in_order_byte_exact(extracted: Extracted) -> None:
    found = actual(extracted)
    for spec, table in pairs(extracted):
        got = [c.name for c in table.columns]
        assert got == [c.name for c in columns_of(extracted, spec)], table.fqn
    for key, view in expected_views(extracted).items():
        got = [c.name for c in found[key].columns]
        assert got == [name for name, _ in view_columns(extracted, view)], key


def test_ordinal_positions_count_live_columns(extracted: Extracted) -> None:
    """1..n in column order, also after a column was dropped from the middle."""
    for table in actual(extracted).values():
        got = [c.ordinal_position for c in table.columns]
        assert got == list(range(1, len(table.columns) + 1)), table.fqn


def columns(ex: Extracted, spec: TableSpec, table: Table) -> Iterator[tuple[Col, Column]]:
    """Expected and extracted columns, matched by position (names are checked above)."""
    want = columns_of(ex, spec)
    assert len(table.columns) == len(want), table.fqn
    yield from zip(want, table.columns, strict=True)


def test_nullability(extracted: Extracted) -> None:
    for spec, table in pairs(extracted):
        got = [(c.name, col.nullable) for c, col in columns(extracted, spec, table)]
        assert got == [(c.name, c.nullable) for c in columns_of(extracted, spec)], table.fqn


def test_data_types(extracted: Extracted) -> None:
    types = extracted.case.caps.types
    found = actual(extracted)
    for spec, table in pairs(extracted):
        got = [(c.name, col.data_type) for c, col in columns(extracted, spec, table)]
        assert got == [(c.name, types[c.family]) for c in columns_of(extracted, spec)], table.fqn
    for key, view in expected_views(extracted).items():
        expected = view_columns(extracted, view)
        got = [
            (name, col.data_type)
            for (name, _), col in zip(expected, found[key].columns, strict=True)
        ]
        assert got == [(name, types[c.family]) for name, c in expected], key


def test_length_precision_scale(extracted: Extracted) -> None:
    caps = extracted.case.caps
    for spec, table in pairs(extracted):
        got = [
            (c.name, col.data_length, col.precision, col.scale)
            for c, col in columns(extracted, spec, table)
        ]
        want = [
            (
                c.name,
                c.length if c.family in caps.lengths else None,
                c.precision if caps.precision_scale else None,
                c.scale if caps.precision_scale else None,
            )
            for c in columns_of(extracted, spec)
        ]
        assert got == want, table.fqn


def test_primary_keys(extracted: Extracted) -> None:
    for spec, table in pairs(extracted):
        got = [c.columns for c in of_kind(table, ConstraintType.PRIMARY_KEY)]
        assert got == ([spec.primary_key] if spec.primary_key else []), table.fqn


def test_unique_constraints(extracted: Extracted) -> None:
    for spec, table in pairs(extracted):
        got = sorted(c.columns for c in of_kind(table, ConstraintType.UNIQUE))
        assert got == sorted(spec.uniques), table.fqn


def test_foreign_keys(extracted: Extracted) -> None:
    cross = ENGINES[extracted.case.engine].cross_schema_fk
    for spec, table in pairs(extracted):
        got = sorted(
            (c.columns, c.referred_table, c.referred_columns)
            for c in of_kind(table, ConstraintType.FOREIGN_KEY)
        )
        want = sorted(
            (fk.columns, fqn(extracted, fk.schema or spec.schema, fk.table), fk.referred_columns)
            for fk in spec.foreign_keys
            if cross or fk.schema in (None, spec.schema)
        )
        assert got == want, table.fqn


def test_comments(extracted: Extracted) -> None:
    caps = extracted.case.caps
    found = actual(extracted)
    for spec, table in pairs(extracted):
        assert table.description == (spec.comment if caps.table_comments else None), table.fqn
        got = [(c.name, col.description) for c, col in columns(extracted, spec, table)]
        want = [
            (c.name, c.comment if caps.column_comments else None)
            for c in columns_of(extracted, spec)
        ]
        assert got == want, table.fqn
    for key, view in expected_views(extracted).items():
        assert found[key].description == (view.comment if caps.view_comments else None), key


def test_view_definitions(extracted: Extracted) -> None:
    views = expected_views(extracted)
    for key, table in actual(extracted).items():
        if key in views:
            assert table.view_definition is not None and table.view_definition.strip(), key
            assert views[key].table in table.view_definition, key
        else:
            assert table.view_definition is None, key


def test_fqns_round_trip(extracted: Extracted) -> None:
    target = extracted.target
    for batch in extracted.batches:
        assert split_fqn(batch.database.fqn) == [SERVICE, target.database]
        assert split_fqn(batch.schema.fqn) == [SERVICE, target.database, batch.schema.name]
        for table in batch.tables:
            assert table.database_schema == batch.schema.fqn
            parts = [SERVICE, target.database, batch.schema.name, table.name]
            assert split_fqn(table.fqn) == parts
            assert table.fqn == build_fqn(*parts)


def test_openmetadata_payloads_validate(extracted: Extracted) -> None:
    for table in actual(extracted).values():
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
        assert all(c.data_type is not DataType.UNKNOWN for c in table.columns), table.fqn
