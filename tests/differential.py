"""Cell-by-cell comparison of a native connector's tables with the generic connector's.

Used by the PostgreSQL (tests/conformance/test_differential.py) and MariaDB
(tests/test_mysql.py) differentials: both collect ``schema.table`` → ``Table`` from each
connector, list every ``Difference`` and hold it against a named allow-list.
"""

from __future__ import annotations

from collections.abc import Iterator, Set
from dataclasses import dataclass
from typing import Any

from metaingest.config import parse_config
from metaingest.entities import Column, ConstraintType, Table, TableConstraint
from metaingest.workflow import Workflow

__all__ = [
    "COLUMN_FIELDS",
    "NATIVE_ONLY",
    "Allowed",
    "Difference",
    "collect",
    "d",
    "differences",
    "native_only",
    "unexpected",
]

COLUMN_FIELDS = (
    "ordinal_position",
    "nullable",
    "data_type",
    "array_data_type",
    "data_length",
    "precision",
    "scale",
    "default",
    "generated",
    "identity",
    "description",
    "on_update",
    "invisible",
)

# What only the native connectors read: SQLAlchemy's Inspector leaves these None on every
# table (and reads no routines at all). A difference in one of these fields where the generic
# side is None is expected; ``native_only`` says which of them a run actually showed.
NATIVE_ONLY = {
    "owner": "the Inspector reads no owners (PostgreSQL roles, MySQL view DEFINERs)",
    "row_estimate": "the Inspector reads no catalog statistics",
    "size_bytes": "the Inspector reads no catalog statistics",
}


@dataclass(frozen=True)
class Difference:
    """One cell where the connectors disagree: (schema.table, column or "", field)."""

    table: str
    column: str
    field: str
    native: Any
    generic: Any


@dataclass(frozen=True)
class Allowed:
    """A difference the connectors may keep, and why."""

    difference: Difference
    reason: str


def d(table: str, column: str, field: str, native: Any, generic: Any) -> Difference:
    """A ``Difference``, positionally."""
    return Difference(table, column, field, native, generic)


async def collect(source: dict[str, Any], routines: list[str] | None = None) -> dict[str, Table]:
    """Every table one clean run of ``source`` (owners on) extracts, by ``schema.table``;
    the names of its routines (``schema.routine``) go to ``routines``."""
    source = {**source, "include_owners": True}
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": "unused.jsonl"}})
    workflow = Workflow(config)
    tables: dict[str, Table] = {}
    async with workflow.stream() as batches:
        async for batch in batches:
            tables.update({f"{batch.schema.name}.{t.name}": t for t in batch.tables})
            if routines is not None:
                routines += [f"{batch.schema.name}.{p.name}" for p in batch.procedures]
    assert workflow.report.issues == [], workflow.report.issues
    return tables


def _constraints(table: Table) -> dict[str, Any]:
    """Constraints by kind and name; a table's one primary key by kind, its name apart."""

    def value(c: TableConstraint) -> tuple[Any, ...]:
        return (
            (c.columns, c.referred_table, c.referred_columns) if c.referred_table else (c.columns,)
        )

    out: dict[str, Any] = {}
    for c in table.constraints:
        if c.constraint_type is ConstraintType.PRIMARY_KEY:
            out["PRIMARY_KEY"] = value(c)
            out["PRIMARY_KEY name"] = c.name
        else:
            out[f"{c.constraint_type.value} {c.name}"] = value(c)
    return out


def _column_cells(name: str, ours: Column, theirs: Column) -> Iterator[Difference]:
    for field in COLUMN_FIELDS:
        a, b = getattr(ours, field), getattr(theirs, field)
        if a != b:
            yield d(name, ours.name, field, a, b)


def _differences(native: dict[str, Table], generic: dict[str, Table]) -> Iterator[Difference]:
    for name in sorted(native.keys() | generic.keys()):
        ours, theirs = native.get(name), generic.get(name)
        if ours is None or theirs is None:
            yield d(name, "", "present", ours is not None, theirs is not None)
            continue
        for field in ("table_type", "description", *NATIVE_ONLY):
            if getattr(ours, field) != getattr(theirs, field):
                yield d(name, "", field, getattr(ours, field), getattr(theirs, field))
        names = tuple(c.name for c in ours.columns), tuple(c.name for c in theirs.columns)
        if names[0] != names[1]:
            yield d(name, "", "columns", *names)
            continue
        for left, right in zip(ours.columns, theirs.columns, strict=True):
            yield from _column_cells(name, left, right)
        keys = _constraints(ours), _constraints(theirs)
        for key in sorted(keys[0].keys() | keys[1].keys()):
            a, b = keys[0].get(key), keys[1].get(key)
            if a != b:
                yield d(name, "", key, a, b)


def differences(
    native: dict[str, Table], generic: dict[str, Table], masks: dict[str, str] | None = None
) -> list[Difference]:
    """Every cell where the two connectors disagree, with each ``masks`` key replaced.

    Masking the run's throwaway names (database, schema prefix) keeps allow-lists stable.
    """

    def mask(value: Any) -> Any:
        if isinstance(value, str):
            for old, new in (masks or {}).items():
                value = value.replace(old, new)
            return value
        if isinstance(value, tuple):
            return tuple(mask(v) for v in value)
        return value

    return [
        Difference(
            *(mask(getattr(x, f)) for f in ("table", "column", "field", "native", "generic"))
        )
        for x in _differences(native, generic)
    ]


def native_only(found: list[Difference]) -> set[str]:
    """The ``NATIVE_ONLY`` fields that only the native side had, somewhere in ``found``."""
    return {x.field for x in found if x.field in NATIVE_ONLY and x.generic is None}


def unexpected(
    found: list[Difference], allowed: tuple[Allowed, ...], bugs: Set[Difference] = frozenset()
) -> tuple[list[Difference], list[Difference]]:
    """(differences neither allowed nor known bugs, allowed differences that did not occur).

    A ``NATIVE_ONLY`` field that only the native side has is allowed (see ``native_only``).
    """
    found = [x for x in found if not (x.field in NATIVE_ONLY and x.generic is None)]
    seen, permitted = set(found), {a.difference for a in allowed}
    return (
        sorted(seen - permitted - bugs, key=repr),
        sorted(permitted - seen, key=repr),
    )
