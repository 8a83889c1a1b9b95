"""Stored content, hashes and field diffs (metaingest.store.content), case by case."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from metaingest.entities import Column, ConstraintType, DataType, Table, TableConstraint
from metaingest.store.content import Diff, diff, serialize


class Sized(BaseModel):
    """An entity with the volatile figures another change adds to Table."""

    model_config = ConfigDict(frozen=True)
    name: str
    description: str | None = None
    row_estimate: int | None = None
    size_bytes: int | None = None


def test_volatile_figures_are_stored_but_never_change_the_content_hash() -> None:
    plain, small, big = (
        serialize(Sized(name="t")),
        serialize(Sized(name="t", row_estimate=10, size_bytes=8192)),
        serialize(Sized(name="t", row_estimate=99_000, size_bytes=1 << 30)),
    )
    assert plain.content_hash == small.content_hash == big.content_hash
    assert len({plain.volatile_hash, small.volatile_hash, big.volatile_hash}) == 3
    assert '"row_estimate":99000' in big.content
    assert serialize(Sized(name="t", description="x")).content_hash != plain.content_hash


def column(name: str, position: int, **fields: Any) -> Column:
    options: dict[str, Any] = {"data_type": DataType.INT, "data_type_display": "integer"}
    options.update(fields)
    return Column(name=name, ordinal_position=position, **options)


def content(table: Table) -> dict[str, Any]:
    return table.model_dump(mode="json", exclude_none=True)


def table(*columns: Column, **fields: Any) -> Table:
    return Table(name="t", database_schema="svc.d.s", columns=columns, **fields)


def names(found: Diff) -> tuple[list[str], list[str], list[str]]:
    return (
        [f.name for f in found.added],
        [f.name for f in found.updated],
        [f.name for f in found.deleted],
    )


def test_columns_are_matched_by_name_and_positions_are_not_diffed() -> None:
    before = table(column("a", 1), column("b", 2), column("c", 3))
    after = table(column("a", 1), column("c", 2), column("d", 3))  # b dropped, d added
    found = diff(content(before), content(after))
    assert names(found) == (["columns.d"], [], ["columns.b"])
    assert found.breaking  # a column removed
    assert found.deleted[0].old["name"] == "b"


def test_a_widened_column_is_not_breaking_a_narrowed_or_retyped_one_is() -> None:
    def varchar(length: int) -> Column:
        return column(
            "v",
            1,
            data_type=DataType.VARCHAR,
            data_type_display=f"varchar({length})",
            data_length=length,
        )

    wider = diff(content(table(varchar(10))), content(table(varchar(20))))
    assert names(wider) == ([], ["columns.v.dataLength", "columns.v.dataTypeDisplay"], [])
    assert not wider.breaking
    assert diff(content(table(varchar(20))), content(table(varchar(10)))).breaking
    retyped = diff(content(table(column("v", 1))), content(table(varchar(10))))
    assert retyped.breaking
    assert ("columns.v.dataType", "INT", "VARCHAR") in [
        (f.name, f.old, f.new) for f in retyped.updated
    ]
    scale = column("n", 1, data_type=DataType.NUMERIC, data_type_display="numeric(10,4)")
    scale_less = column("n", 1, data_type=DataType.NUMERIC, data_type_display="numeric(10,2)")
    assert diff(content(table(scale)), content(table(scale_less))).breaking


def test_table_fields_and_constraints_use_openmetadata_names() -> None:
    pk = TableConstraint(constraint_type=ConstraintType.PRIMARY_KEY, columns=("a",), name="pk")
    before = table(column("a", 1), view_definition="select 1")
    after = table(
        column("a", 1, nullable=False, description="key"),
        constraints=(pk,),
        description="now documented",
        view_definition="select 2",
    )
    found = diff(content(before), content(after))
    assert names(found) == (
        ["description", "columns.a.description", "tableConstraints.pk"],
        ["schemaDefinition", "columns.a.nullable"],
        [],
    )
    assert not found.breaking
    unnamed = TableConstraint(constraint_type=ConstraintType.UNIQUE, columns=("a", "b"))
    keyed = diff(
        content(table(column("a", 1))), content(table(column("a", 1), constraints=(unnamed,)))
    )
    assert names(keyed)[0] == ["tableConstraints.UNIQUE(a,b)"]


def test_a_diff_survives_its_json_form() -> None:
    found = diff(content(table(column("a", 1))), content(table(column("a", 1, default="0"))))
    assert Diff.from_json(found.to_json(), found.breaking) == found
    assert found.to_json() == {
        "added": [{"name": "columns.a.default", "new": "0"}],
        "updated": [],
        "deleted": [],
    }
