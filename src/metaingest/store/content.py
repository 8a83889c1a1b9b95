"""An entity's stored content, its hashes, and the field-level diff between two versions.

The content hash covers everything but the volatile figures (``VOLATILE``: row estimates,
sizes), so those never make an entity "updated"; they are stored with the entity and kept
current through a second hash of their own.

The diff follows OpenMetadata's ChangeDescription: ``added`` / ``updated`` / ``deleted`` field
changes named as OpenMetadata names them (``description``, ``tableType``,
``columns.<name>.dataType``, ``tableConstraints.<name>``). Columns and constraints are matched
by name, so a renamed column is a deletion plus an addition and a retyped one an update of
that column; column positions are not diffed (they follow from additions and removals).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel

__all__ = ["VOLATILE", "Diff", "FieldChange", "Serialized", "diff", "serialize"]

VOLATILE = frozenset({"row_estimate", "size_bytes"})

# our snake_case name -> OpenMetadata's name, where camelCase alone does not give it
_OM_NAMES = {
    "constraints": "tableConstraints",
    "view_definition": "schemaDefinition",
}
_NOT_DIFFED = frozenset({"fqn", "ordinal_position", *VOLATILE})


@dataclass(frozen=True, slots=True)
class Serialized:
    """One entity as stored: its JSON, the hash of its stable part, the volatile figures' hash."""

    content: str
    content_hash: str
    volatile_hash: str


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@cache
def _volatile_of(cls: type[BaseModel]) -> tuple[str, ...]:
    return tuple(sorted(VOLATILE & cls.model_fields.keys()))


_NO_FIGURES = _digest(b"")  # the volatile hash of an entity without volatile figures


def serialize(entity: BaseModel) -> Serialized:
    """The stored form of an entity (pydantic's own JSON; fields that are None left out)."""
    serializer = entity.__pydantic_serializer__
    full = serializer.to_json(entity, exclude_none=True)
    # looked up by the class's fields: getattr of a missing name is slow on a pydantic model
    volatile = {name: getattr(entity, name) for name in _volatile_of(type(entity))}
    if any(value is not None for value in volatile.values()):
        stable = serializer.to_json(entity, exclude_none=True, exclude=set(VOLATILE))
        figures = _digest(json.dumps(volatile, sort_keys=True).encode())
    else:
        stable, figures = full, _NO_FIGURES
    return Serialized(full.decode(), _digest(stable), figures)


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One changed field: its OpenMetadata-style name, old and new values (None: absent)."""

    name: str
    old: Any = None
    new: Any = None


@dataclass(frozen=True, slots=True)
class Diff:
    """Fields added, updated and deleted between two versions, and whether it breaks readers."""

    added: tuple[FieldChange, ...] = ()
    updated: tuple[FieldChange, ...] = ()
    deleted: tuple[FieldChange, ...] = ()
    breaking: bool = False

    def to_json(self) -> dict[str, Any]:
        """The JSON form: ``{added: [...], updated: [{name, old, new}], deleted: [...]}``."""
        return {
            "added": [{"name": f.name, "new": f.new} for f in self.added],
            "updated": [{"name": f.name, "old": f.old, "new": f.new} for f in self.updated],
            "deleted": [{"name": f.name, "old": f.old} for f in self.deleted],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any] | None, breaking: bool = False) -> Diff:
        """The inverse of ``to_json``."""
        if not data:
            return cls(breaking=breaking)
        return cls(
            tuple(FieldChange(d["name"], None, d.get("new")) for d in data.get("added", ())),
            tuple(FieldChange(d["name"], d.get("old"), d.get("new")) for d in data["updated"]),
            tuple(FieldChange(d["name"], d.get("old"), None) for d in data.get("deleted", ())),
            breaking,
        )


def _camel(name: str) -> str:
    if name in _OM_NAMES:
        return _OM_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _constraint_key(constraint: dict[str, Any]) -> str:
    name = constraint.get("name")
    if name:
        return str(name)
    return f"{constraint.get('constraint_type')}({','.join(constraint.get('columns', ()))})"


_PRECISION = re.compile(r"\((\d+)(?:\s*,\s*(\d+))?\)")


class _Collector:
    def __init__(self) -> None:
        self.added: list[FieldChange] = []
        self.updated: list[FieldChange] = []
        self.deleted: list[FieldChange] = []
        self.breaking = False

    def fields(self, prefix: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for key in sorted(old.keys() | new.keys()):
            if key in _NOT_DIFFED or key in ("columns", "constraints"):
                continue
            name = prefix + _camel(key)
            if key not in old:
                self.added.append(FieldChange(name, None, new[key]))
            elif key not in new:
                self.deleted.append(FieldChange(name, old[key], None))
            elif old[key] != new[key]:
                self.updated.append(FieldChange(name, old[key], new[key]))

    def by_name(self, prefix: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        for key in sorted(old.keys() | new.keys()):
            name = f"{prefix}.{key}"
            if key not in old:
                self.added.append(FieldChange(name, None, new[key]))
            elif key not in new:
                self.deleted.append(FieldChange(name, old[key], None))
            elif old[key] != new[key]:
                if prefix == "columns":
                    self.column(name, old[key], new[key])
                else:
                    self.updated.append(FieldChange(name, old[key], new[key]))

    def column(self, name: str, old: dict[str, Any], new: dict[str, Any]) -> None:
        before = len(self.updated) + len(self.added) + len(self.deleted)
        self.fields(name + ".", old, new)
        if len(self.updated) + len(self.added) + len(self.deleted) == before:
            return
        if old.get("data_type") != new.get("data_type") or _reduced(old, new):
            self.breaking = True


def _reduced(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """True when a length, precision or scale got smaller (or a display's (p, s) did)."""
    for key in ("data_length", "precision", "scale"):
        before, after = old.get(key), new.get(key)
        if isinstance(before, int) and isinstance(after, int) and after < before:
            return True
    a = _PRECISION.search(str(old.get("data_type_display", "")))
    b = _PRECISION.search(str(new.get("data_type_display", "")))
    if a is not None and b is not None:
        return any(
            x is not None and y is not None and int(y) < int(x)
            for x, y in zip(a.groups(), b.groups(), strict=True)
        )
    return False


def diff(old: dict[str, Any], new: dict[str, Any]) -> Diff:
    """The field-level diff from ``old`` to ``new`` (stored contents, as dicts)."""
    out = _Collector()
    out.fields("", old, new)
    old_columns = {c["name"]: c for c in old.get("columns", ())}
    new_columns = {c["name"]: c for c in new.get("columns", ())}
    out.by_name("columns", old_columns, new_columns)
    if old_columns.keys() - new_columns.keys():
        out.breaking = True  # a column removed (or renamed)
    out.by_name(
        "tableConstraints",
        {_constraint_key(c): c for c in old.get("constraints", ())},
        {_constraint_key(c): c for c in new.get("constraints", ())},
    )
    return Diff(tuple(out.added), tuple(out.updated), tuple(out.deleted), out.breaking)
