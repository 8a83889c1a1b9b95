"""Reading the store: changes, an entity's history, current entities, runs.

``await open_store(url)`` returns a ``Store`` (an async context manager). Opening upgrades an
older store in place (under the write lock); a database without a store is an error.

An entity's *last seen* run is derived, not written per run: the latest published run that
read its service (``run_services``), or, when a run did not deliver it
(``missing_since_run``), the latest one before that.
"""

from __future__ import annotations

import bisect
import fnmatch
import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Self

import anyio
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from metaingest.errors import SinkError

from . import schema
from .content import Diff
from .engine import Locked, connect_engine, describe, store_error
from .migrate import current_version, ensure_schema
from .models import CHANGES, Change, EntityRecord, RunRecord, Version

__all__ = ["Store", "open_store"]

E, C, R, V = schema.entities, schema.changes, schema.runs, schema.versions
S = schema.run_services
_NEVER = 2**62


class Store:
    """A catalog store opened for reading; ``aclose()`` (or ``async with``) releases it."""

    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self._engine = engine
        self.url = url

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the store's connections; idempotent."""
        await self._engine.dispose()

    async def _rows(self, query: sa.Select[Any]) -> list[sa.Row[Any]]:
        try:
            async with self._engine.connect() as conn:
                return list(await conn.execute(query))
        except sa.exc.SQLAlchemyError as exc:
            raise store_error(self.url, exc) from exc

    async def last_run(self, status: str = "published") -> int | None:
        """The id of the latest run with ``status``; None when there is none."""
        rows = await self._rows(sa.select(sa.func.max(R.c.id)).where(R.c.status == status))
        value = rows[0][0]
        return None if value is None else int(value)

    async def changes(
        self,
        *,
        since: int | datetime | str | None = None,
        fqn: str | None = None,
        recorded: bool = False,
    ) -> list[Change]:
        """Changes after run ``since`` (an id) or at/after a date; default: the last run's.

        ``fqn`` is a glob (``svc.db.*``); ``recorded`` adds the deletions not made
        (``withheld`` by the fail-safe, ``out_of_scope`` of a filter).
        """
        query = (
            sa.select(C, R.c.ended_at)
            .join(R, R.c.id == C.c.run_id)
            .where(R.c.status == "published")
            .order_by(C.c.run_id, C.c.fqn)
        )
        if isinstance(since, int):
            query = query.where(C.c.run_id > since)
        elif since is not None:
            query = query.where(R.c.ended_at >= _stored_time(since))
        else:
            last = await self.last_run()
            if last is None:
                return []
            query = query.where(C.c.run_id == last)
        if not recorded:
            query = query.where(C.c.change.in_(CHANGES))
        if fqn is not None and not _has_glob(fqn):
            query = query.where(C.c.fqn == fqn)
        out = [_change(row) for row in await self._rows(query)]
        if fqn is not None and _has_glob(fqn):
            out = [c for c in out if fnmatch.fnmatchcase(c.fqn, fqn)]
        return out

    async def history(self, fqn: str) -> list[Version]:
        """Every version of one entity, oldest first, each with the change that made it."""
        rows = await self._rows(
            sa.select(V, R.c.ended_at, E.c.content.label("current"))
            .join(R, R.c.id == V.c.run_id)
            .join(E, E.c.fqn == V.c.fqn)
            .where(V.c.fqn == fqn)
            .order_by(V.c.version)
        )
        made = {
            (c.run, c.version): c
            for c in [
                _change(row)
                for row in await self._rows(
                    sa.select(C, R.c.ended_at)
                    .join(R, R.c.id == C.c.run_id)
                    .where(C.c.fqn == fqn)
                    .order_by(C.c.id)
                )
            ]
            if c.change in ("added", "updated", "restored")
        }
        return [
            Version(
                fqn,
                row.version,
                row.run_id,
                row.ended_at or "",
                json.loads(row.content or row.current),  # "": the current version
                made.get((row.run_id, row.version)),
            )
            for row in rows
        ]

    async def events(self, fqn: str) -> list[Change]:
        """Every recorded change of one entity (deletions and withheld ones included)."""
        rows = await self._rows(
            sa.select(C, R.c.ended_at)
            .join(R, R.c.id == C.c.run_id)
            .where(C.c.fqn == fqn)
            .order_by(C.c.id)
        )
        return [_change(row) for row in rows]

    async def entities(self, pattern: str = "*", *, deleted: bool = False) -> list[EntityRecord]:
        """Current entities whose FQN matches the glob ``pattern`` (deleted ones on request)."""
        query = sa.select(E).order_by(E.c.fqn)
        if not deleted:
            query = query.where(E.c.deleted_run.is_(None))
        if not _has_glob(pattern):
            query = query.where(E.c.fqn == pattern)
        rows = [r for r in await self._rows(query) if fnmatch.fnmatchcase(r.fqn, pattern)]
        published: dict[str, list[int]] = defaultdict(list)
        for service in sorted({r.service for r in rows}):
            result = await self._rows(
                sa.select(R.c.id)
                .join(S, S.c.run_id == R.c.id)
                .where(S.c.service == service, R.c.status == "published")
                .order_by(R.c.id)
            )
            published[service] = [run for (run,) in result]
        seen = {r.fqn: _last_seen(r, published[r.service]) for r in rows}
        runs = await self._ended(set(seen.values()) | {r.first_seen_run for r in rows})
        out = []
        for row in rows:
            last = seen[row.fqn]
            out.append(
                EntityRecord(
                    row.fqn,
                    row.kind,
                    row.version,
                    json.loads(row.content),
                    row.content_hash,
                    row.first_seen_run,
                    runs.get(row.first_seen_run) or row.first_seen_at,
                    last,
                    runs.get(last),
                    row.deleted_run,
                    row.deleted_at,
                )
            )
        return out

    async def _ended(self, ids: Iterable[int | None]) -> dict[int, str]:
        wanted = sorted({i for i in ids if i is not None})
        out: dict[int, str] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            query = sa.select(R.c.id, R.c.ended_at).where(R.c.id.in_(chunk))
            out.update((row.id, row.ended_at) for row in await self._rows(query))
        return out

    async def runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest ``limit`` runs, newest first, with their units by status."""
        rows = await self._rows(sa.select(R).order_by(R.c.id.desc()).limit(limit))
        return [
            RunRecord(
                row.id,
                row.service,
                row.status,
                row.started_at,
                row.ended_at,
                row.config_digest,
                json.loads(row.counts),
                {k: tuple(v) for k, v in json.loads(row.units).items() if v},
                tuple((w["fqn"], w["message"]) for w in json.loads(row.warnings)),
            )
            for row in rows
        ]


def _stored_time(when: datetime | str) -> str:
    """A date or time as the store writes times (UTC ISO 8601), for comparing."""
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    if when.tzinfo is not None:
        when = when.astimezone(UTC).replace(tzinfo=None)
    return when.isoformat()


def _last_seen(row: sa.Row[Any], published: list[int]) -> int:
    """The last published run that delivered the entity (see the module's docstring)."""
    before = row.missing_since_run if row.missing_since_run is not None else _NEVER
    at = bisect.bisect_left(published, before)
    return int(max(row.last_written_run, published[at - 1] if at else 0))


def _has_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


def _change(row: sa.Row[Any]) -> Change:
    fields = json.loads(row.fields) if row.fields else None
    return Change(
        row.run_id,
        row.ended_at or "",
        row.fqn,
        row.kind,
        row.change,
        row.version,
        bool(row.breaking),
        Diff.from_json(fields, bool(row.breaking)),
    )


async def open_store(url: str, *, lock_timeout: float = 60.0) -> Store:
    """Open the catalog store at ``url`` for reading (upgrading an older store in place)."""
    parsed = make_url(url) if "://" in url else None
    if parsed is not None and parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path not in ("", ":memory:") and not await anyio.Path(path).exists():
            raise SinkError(f"catalog store {describe(url)}: no such file")
    engine = connect_engine(url)
    try:
        async with engine.connect() as conn:
            version = await current_version(conn)
        if version is None:
            raise SinkError(f"catalog store {describe(url)}: no store there (nothing published)")
        if version != schema.SCHEMA_VERSION:
            lock = Locked(engine, url, lock_timeout)
            conn = await lock.begin()
            try:
                await ensure_schema(conn, describe(url))
                await lock.commit()
            finally:
                await lock.rollback()
    except sa.exc.SQLAlchemyError as exc:
        await engine.dispose()
        raise store_error(url, exc) from exc
    except BaseException:
        await engine.dispose()
        raise
    return Store(engine, url)
