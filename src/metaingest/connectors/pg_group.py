"""The rows of one round of PostgreSQL's per-schema catalog queries, split per schema.

The catalog queries take an array of schema names (``sql/postgres.sql``): the relations rows
say their schema (``schema_name``), the columns and constraints rows their relation (``relid``),
the view dependencies and routines rows their schema. Each schema's rows keep the order the
query gave them, so a schema read in a group gets exactly the rows it gets when read alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from metaingest import cooperative

__all__ = ["SchemaRows", "split_rows"]

_Row = Mapping[str, Any]


@dataclass(slots=True)
class SchemaRows:
    """One schema's rows of each catalog query."""

    relations: list[_Row] = field(default_factory=list)
    columns: list[_Row] = field(default_factory=list)
    constraints: list[_Row] = field(default_factory=list)
    depends: list[_Row] = field(default_factory=list)
    routines: list[_Row] = field(default_factory=list)


async def split_rows(
    names: Sequence[str],
    relations: list[_Row],
    columns: list[_Row],
    constraints: list[_Row],
    depends: list[_Row],
    routines: list[_Row],
) -> dict[str, SchemaRows]:
    """Each schema's rows, by name; one schema keeps the lists it was given, as they are.

    A columns or constraints row of a relation the relations query did not return (a kind it
    does not list) is left out, as building a schema's tables leaves it out.
    """
    if len(names) == 1:
        return {names[0]: SchemaRows(relations, columns, constraints, depends, routines)}
    out = {name: SchemaRows() for name in names}
    owner: dict[int, SchemaRows] = {}
    for row in relations:
        rows = out[row["schema_name"]]
        rows.relations.append(row)
        owner[row["relid"]] = rows
    await _by_relation(columns, owner, lambda rows: rows.columns)
    await _by_relation(constraints, owner, lambda rows: rows.constraints)
    for row in depends:
        out[row["schema_name"]].depends.append(row)
    for row in routines:
        out[row["schema_name"]].routines.append(row)
    return out


async def _by_relation(
    rows: Sequence[_Row],
    owner: Mapping[int, SchemaRows],
    into: Callable[[SchemaRows], list[_Row]],
) -> None:
    async for chunk in cooperative.chunks(rows):
        for row in chunk:
            found = owner.get(row["relid"])
            if found is not None:
                into(found).append(row)
