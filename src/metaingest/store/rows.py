"""The rows a publish writes: entities of a batch, and the dicts of each table's rows."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from pydantic import BaseModel

from metaingest.connectors.base import SchemaBatch

from . import schema
from .bulk import any_of
from .content import Serialized

__all__ = [
    "INSERT_CHANGE",
    "INSERT_ENTITY",
    "INSERT_VERSION",
    "LIVE_UNITS",
    "SUPERSEDE",
    "UPDATE",
    "Stored",
    "bound",
    "change",
    "children",
    "content_by_fqn",
    "now",
    "stored",
    "stored_by_unit",
]

E = schema.entities

# entity classes a batch may carry, by OpenMetadata's entity kind
_KINDS = {"Table": "table", "StoredProcedure": "storedProcedure"}


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


class Stored(NamedTuple):
    """What a comparison needs of a stored entity (``stored_by_unit``'s columns)."""

    fqn: str
    kind: str
    is_view: bool
    version: int
    content_hash: str
    volatile_hash: str
    missing_since_run: int | None
    out_of_scope_run: int | None
    deleted_run: int | None


@cache
def stored_by_unit(sqlite: bool) -> sa.Select[Any]:
    """``Stored`` rows of every entity (deleted ones too) of the units bound as a list."""
    columns = [E.c[name] for name in Stored._fields]
    return sa.select(*columns).where(any_of(E.c.unit_fqn, "units", sqlite))


@cache
def content_by_fqn(sqlite: bool) -> sa.Select[Any]:
    """The FQN and current content of the entities bound as a list."""
    return sa.select(E.c.fqn, E.c.content).where(any_of(E.c.fqn, "fqns", sqlite))


# each unit of a service with live entities, and how many (bound: the service)
LIVE_UNITS = (
    sa.select(E.c.unit_fqn, sa.func.count())
    .where(E.c.service == sa.bindparam("service"), E.c.deleted_run.is_(None))
    .group_by(E.c.unit_fqn)
)

# inserts: Bulk.executemany compiles them for the columns the rows carry
INSERT_ENTITY = sa.insert(E)
INSERT_VERSION = sa.insert(schema.versions)
INSERT_CHANGE = sa.insert(schema.changes)

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
