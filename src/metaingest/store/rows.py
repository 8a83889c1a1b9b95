"""The rows a publish writes: entities of a batch, and the dicts of each table's rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel

from metaingest.connectors.base import SchemaBatch

from . import schema
from .content import Serialized

__all__ = [
    "CHUNK",
    "SUPERSEDE",
    "UPDATE",
    "bound",
    "change",
    "children",
    "chunks",
    "now",
    "stored",
]

E = schema.entities

# entity classes a batch may carry, by OpenMetadata's entity kind
_KINDS = {"Table": "table", "StoredProcedure": "storedProcedure"}
# at most this many values in one IN (...) list
CHUNK = 500


def now() -> str:
    """The current UTC time as stored (ISO 8601, milliseconds)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def children(batch: SchemaBatch) -> Iterator[tuple[str, BaseModel]]:
    """Every entity under the batch's schema: tables, views, and any other kind it carries."""
    for field in dataclasses.fields(batch):
        value = getattr(batch, field.name)
        if isinstance(value, tuple):
            for item in value:
                kind = _KINDS.get(type(item).__name__)
                if kind is not None:
                    yield kind, item


def chunks(items: list[str]) -> Iterator[list[str]]:
    """``items`` in lists of at most CHUNK."""
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


# an entity's new state (its key and values bound as b_<column>)
UPDATE = (
    sa.update(E)
    .where(E.c.fqn == sa.bindparam("b_key"))
    .values(
        is_view=sa.bindparam("b_is_view"),
        version=sa.bindparam("b_version"),
        content=sa.bindparam("b_content"),
        content_hash=sa.bindparam("b_content_hash"),
        volatile_hash=sa.bindparam("b_volatile_hash"),
        last_written_run=sa.bindparam("b_last_written_run"),
        missing_since_run=None,
        out_of_scope_run=None,
        deleted_run=None,
        deleted_at=None,
    )
)


def bound(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` keyed as UPDATE binds them."""
    return {f"b_{name}": value for name, value in values.items()}


def stored(ser: Serialized) -> dict[str, str]:
    """The content columns of a new (current) version row.

    The current version's content is the entity's (``entities.content``); its version row
    holds "" until a newer version supersedes it (``SUPERSEDE``), so a first run writes each
    entity's content once, not twice.
    """
    return {"content": "", "content_hash": ser.content_hash}


# a superseded version row gets the content it had (bound as b_fqn, b_version, b_content)
SUPERSEDE = (
    sa.update(schema.versions)
    .where(
        schema.versions.c.fqn == sa.bindparam("b_fqn"),
        schema.versions.c.version == sa.bindparam("b_version"),
        schema.versions.c.content == "",
    )
    .values(content=sa.bindparam("b_content"))
)


def change(
    run: int | None, fqn: str, kind: str, what: str, version: int, fields: str | None = None
) -> dict[str, Any]:
    """A ``changes`` row."""
    return {
        "run_id": run,
        "fqn": fqn,
        "kind": kind,
        "change": what,
        "version": version,
        "breaking": False,
        "fields": fields,
    }
