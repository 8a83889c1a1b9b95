"""The store's schema version, creation of a new store, and in-place upgrades.

A new store is created at ``SCHEMA_VERSION``; an older one is upgraded step by step, inside
the caller's locked transaction (PostgreSQL and SQLite both have transactional DDL), so an
upgrade interrupted half-way leaves the store at its old version. A store newer than this
code is refused.

Version history:

1. entities, versions, runs, changes.
2. ``runs.units`` (the schemas each run read whole, with errors, failed on or filtered);
   ``entities.missing_since_run`` (*last seen* derives from it) and ``out_of_scope_run``;
   ``changes.breaking``, computed for the changes version 1 recorded.
3. ``run_services``: the services a published run read (a fleet's run reads several),
   filled from ``runs.service`` for the runs published before.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from metaingest.errors import SinkError

from . import schema
from .content import Diff

__all__ = ["current_version", "ensure_schema"]

_VERSION_KEY = "schema_version"

# whether the store's own table exists (what Inspector.has_table answers, without the
# reflection query it compiles first: this runs at the start of every run)
_HAS_STORE = {
    "sqlite": "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'store_meta'",
    "postgresql": "SELECT to_regclass('store_meta') IS NOT NULL",
}


async def current_version(conn: AsyncConnection) -> int | None:
    """The store's schema version; None when the database holds no store yet."""
    exists = (await conn.exec_driver_sql(_HAS_STORE[conn.dialect.name])).scalar()
    if not exists:
        return None
    meta = schema.store_meta
    value = (
        await conn.execute(sa.select(meta.c.value).where(meta.c.key == _VERSION_KEY))
    ).scalar_one_or_none()
    return None if value is None else int(value)


async def _to_v2(conn: AsyncConnection) -> None:
    for table, column, ddl in (
        ("entities", "missing_since_run", "INTEGER"),
        ("entities", "out_of_scope_run", "INTEGER"),
        ("changes", "breaking", "BOOLEAN NOT NULL DEFAULT FALSE"),
        ("runs", "units", "TEXT NOT NULL DEFAULT '{}'"),
    ):
        await conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column} {ddl}")
    changes = schema.changes
    rows = await conn.execute(
        sa.select(changes.c.id, changes.c.fields).where(changes.c.fields.is_not(None))
    )
    breaking = [{"key": row.id} for row in rows if _recorded_breaking(json.loads(row.fields))]
    if breaking:
        await conn.execute(
            sa.update(changes).where(changes.c.id == sa.bindparam("key")).values(breaking=True),
            breaking,
        )


def _recorded_breaking(fields: dict[str, Any]) -> bool:
    """Whether a change recorded by version 1 (no flag) breaks readers, from its field diff."""
    recorded = Diff.from_json(fields)
    if any(f.name.startswith("columns.") and f.name.count(".") == 1 for f in recorded.deleted):
        return True
    for f in recorded.updated:
        field = f.name.rsplit(".", 1)[-1]
        if not f.name.startswith("columns."):
            continue
        if field == "dataType":
            return True
        numeric = isinstance(f.old, int) and isinstance(f.new, int)
        if field in ("dataLength", "precision", "scale") and numeric and f.new < f.old:
            return True
    return False


async def _to_v3(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda c: schema.run_services.create(c))
    runs = schema.runs
    published = sa.select(runs.c.id, runs.c.service).where(runs.c.status == "published")
    await conn.execute(sa.insert(schema.run_services).from_select(["run_id", "service"], published))


_UPGRADES: dict[int, Callable[[AsyncConnection], Awaitable[None]]] = {2: _to_v2, 3: _to_v3}


async def ensure_schema(conn: AsyncConnection, where: str) -> int:
    """Create or upgrade the store inside the caller's transaction; return the old version."""
    version = await current_version(conn)
    meta = schema.store_meta
    if version is None:
        await conn.run_sync(schema.metadata.create_all)
        await conn.execute(
            sa.insert(meta).values(key=_VERSION_KEY, value=str(schema.SCHEMA_VERSION))
        )
        return 0
    if version > schema.SCHEMA_VERSION:
        raise SinkError(
            f"catalog store {where}: schema version {version} is newer than this metaingest "
            f"supports ({schema.SCHEMA_VERSION}); upgrade metaingest"
        )
    for step in range(version + 1, schema.SCHEMA_VERSION + 1):
        await _UPGRADES[step](conn)
    if version < schema.SCHEMA_VERSION:
        await conn.execute(
            sa.update(meta)
            .where(meta.c.key == _VERSION_KEY)
            .values(value=str(schema.SCHEMA_VERSION))
        )
    return version
