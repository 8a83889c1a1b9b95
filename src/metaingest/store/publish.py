"""One run's publish into the store: compare each batch as it arrives, commit once.

The first batch takes the store's lock and opens the run's one transaction (``engine``);
batches are held serialized and compared in groups with what the store holds for their
schemas (one statement per group) and only what changed is written: new entities, new
versions, changes, one statement per table and group (``bulk``: on the driver connection).
An unchanged entity costs a hash comparison and no write. At commit the deletions are
planned by ``metaingest.deletion`` from what the run did not deliver (read in one statement
for the units not delivered), then the run's bookkeeping is written and the transaction
commits: every change of the run becomes visible at once, or none does.

Memory holds one group of batches (their JSON), the FQNs of the units delivered and the
entities not delivered, never the catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any, NamedTuple

import anyio
import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import ClauseElement

from metaingest import cooperative
from metaingest.connectors.base import SchemaBatch
from metaingest.deletion import Known, plan_deletions
from metaingest.entities import VIEW_TYPES
from metaingest.errors import MetaingestError
from metaingest.sinks.base import RunScope

from . import schema
from .bulk import Bulk
from .content import Diff, Serialized, diff, serialize
from .engine import Locked, describe, store_error
from .migrate import ensure_schema
from .rows import (
    INSERT_CHANGE,
    INSERT_ENTITY,
    INSERT_VERSION,
    LIVE_UNITS,
    SUPERSEDE,
    UPDATE,
    Stored,
    bound,
    children,
    content_by_fqn,
    now,
    stored_by_unit,
)
from .rows import change as change_row
from .rows import stored as version_content

__all__ = ["Publisher"]

log = logging.getLogger(__name__)

# pending batches are compared with the store once this many entities or units are held:
# fewer hand-offs to the driver than one per batch (each statement of a group is one), and
# few enough that the group's JSON stays small beside the run (2,000 entities cost ~5 MB
# of peak RSS more than 500 on the 40x50x12 catalog)
_FLUSH_ENTITIES = 500
_FLUSH_UNITS = 8

E = schema.entities


class _Held(NamedTuple):
    """One delivered entity, serialized, waiting to be compared with the store."""

    service: str
    unit: str
    kind: str
    fqn: str
    is_view: bool
    ser: Serialized


def _current(is_view: bool, ser: Serialized, run: int | None) -> dict[str, Any]:
    """The columns of an entity's row that every write of it sets."""
    return {
        "is_view": is_view,
        "content": ser.content,
        "content_hash": ser.content_hash,
        "volatile_hash": ser.volatile_hash,
        "last_written_run": run,
    }


def _held(service: str, unit: str, kind: str, entity: BaseModel) -> _Held:
    fqn: str = getattr(entity, "fqn")  # noqa: B009 - every entity kind has one
    is_view = getattr(entity, "table_type", None) in VIEW_TYPES
    return _Held(service, unit, kind, fqn, is_view, serialize(entity))


def _digest(digests: list[str]) -> str | None:
    """The run's config digest: its one source's, or a digest of a fleet's sources' digests."""
    if len(digests) <= 1:
        return digests[0] if digests else None
    return hashlib.sha256(" ".join(digests).encode()).hexdigest()


class Publisher:
    """Writes one run into the store; ``commit`` or ``discard`` ends it."""

    def __init__(
        self,
        engine: AsyncEngine,
        url: str,
        *,
        lock_timeout: float,
        threshold: float,
        allow_mass_delete: bool,
    ) -> None:
        self._engine = engine
        self._url = url
        self._lock = Locked(engine, url, lock_timeout)
        self._threshold = threshold
        self._allow = allow_mass_delete
        self._conn: AsyncConnection | None = None
        self._bulk: Bulk | None = None  # the driver connection under _conn
        self.run_id: int | None = None
        self._started = now()
        self._service: str | None = None  # the first service delivered (a run without scope)
        self._fresh: Counter[str] = Counter()  # entities added or restored, per service
        self._units: set[str] = set()  # schemas and databases delivered
        self._delivered: set[str] = set()  # those, and one child per schema (deletion rules)
        self._missing: dict[str, Any] = {}  # stored live entities this run did not deliver
        self._scopes: dict[str, RunScope] = {}  # per service, for the services read
        self._pending: list[_Held] = []  # serialized, waiting to be compared
        self._held_units = 0
        self.counts = dict.fromkeys(
            ("added", "updated", "restored", "deleted", "withheld", "out_of_scope", "unchanged"),
            0,
        )
        self.received = 0
        # what the store's writes cost: statements that write, and the commit (benchmarks)
        self.write_seconds = 0.0
        self.rows_written = 0

    async def _open(self) -> AsyncConnection:
        if self._conn is None:
            conn = await self._lock.begin()
            try:
                await ensure_schema(conn, describe(self._url))
                row = await conn.execute(
                    sa.insert(schema.runs)
                    .values(service=self._service or "", status="running", started_at=now())
                    .returning(schema.runs.c.id)
                )
                self.run_id = row.scalar_one()
            except BaseException:
                with anyio.CancelScope(shield=True):
                    await self._lock.rollback()
                raise
            self._conn = conn
        return self._conn

    async def write(self, batch: SchemaBatch) -> None:
        """Take one schema's batch; compare and write pending batches once enough are held."""
        self._service = self._service or batch.database.service
        conn = await self._open()
        database = batch.database
        service = database.service
        if database.fqn not in self._units:
            self._units.add(database.fqn)
            self._delivered.add(database.fqn)
            self._pending.append(_held(service, database.fqn, "database", database))
        self._units.add(batch.fqn)
        self._delivered.add(batch.fqn)
        self._pending.append(_held(service, batch.fqn, "databaseSchema", batch.schema))
        first = len(self._pending)
        for kind, entity in children(batch):
            await cooperative.checkpoint()  # serializing a 10,000-table schema: ~0.3 s of CPU
            self._pending.append(_held(service, batch.fqn, kind, entity))
        if len(self._pending) > first:  # one child is enough for the empty-listing rule
            self._delivered.add(self._pending[first].fqn)
        self._held_units += 1
        if len(self._pending) >= _FLUSH_ENTITIES or self._held_units >= _FLUSH_UNITS:
            await self._flush(conn)

    async def _flush(self, conn: AsyncConnection) -> None:
        """Compare the pending units with the store, a few statements for all of them.

        Units are compared in groups rather than one by one: each statement is a hand-off
        to the driver's thread (aiosqlite) or a round trip (asyncpg), and while extraction
        keeps the event loop's thread busy each hand-off waits for the GIL.
        """
        pending, self._pending, self._held_units = self._pending, [], 0
        if not pending:
            return
        try:
            await self._compare(conn, pending)
        except sa.exc.SQLAlchemyError as exc:
            raise store_error(self._url, exc) from exc

    async def _compare(self, conn: AsyncConnection, delivered: list[_Held]) -> None:
        bulk = await self._bulk_of(conn)
        units = sorted({held.unit for held in delivered})
        statement = stored_by_unit(bulk.sqlite)
        stored: dict[str, Stored] = {}
        async for rows in cooperative.chunks(await bulk.fetch(statement, units)):
            stored.update((row[0], Stored._make(row)) for row in rows)
        run, at = self.run_id, now()
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        versions: list[dict[str, Any]] = []
        changes: list[dict[str, Any]] = []
        changed: dict[str, tuple[str, int]] = {}  # fqn -> (change, version): diff to compute
        self.received += len(delivered)
        for service, unit, kind, fqn, is_view, ser in delivered:
            await cooperative.checkpoint()
            row = stored.pop(fqn, None)
            if row is None:
                inserts.append(
                    {
                        **_current(is_view, ser, run),
                        **{"fqn": fqn, "service": service, "kind": kind, "unit_fqn": unit},
                        **{"version": 1, "first_seen_run": run, "first_seen_at": at},
                    }
                )
                versions.append({"fqn": fqn, "version": 1, "run_id": run, **version_content(ser)})
                changes.append(change_row(run, fqn, kind, "added", 1))
                self.counts["added"] += 1
                self._fresh[service] += 1
                continue
            if row.deleted_run is not None or row.content_hash != ser.content_hash:
                change = "restored" if row.deleted_run is not None else "updated"
                version = row.version + 1
                changed[fqn] = (change, version)
                versions.append(
                    {"fqn": fqn, "version": version, "run_id": run, **version_content(ser)}
                )
                changes.append(change_row(run, fqn, kind, change, version, fields=ser.content))
                self.counts[change] += 1
                self._fresh[service] += change == "restored"
            else:
                self.counts["unchanged"] += 1
                if (
                    row.volatile_hash == ser.volatile_hash
                    and row.missing_since_run is None
                    and row.out_of_scope_run is None
                ):
                    continue  # the common case of a re-run: nothing to write
                version = row.version
            updates.append(
                {"b_key": fqn, "b_version": version, **bound(_current(is_view, ser, run))}
            )
        for row in stored.values():  # stored under this unit, not delivered now
            if row.deleted_run is None:
                self._missing[row.fqn] = row
        if changed:
            await self._diffs(conn, changed, changes)
        await self._execute(conn, INSERT_ENTITY, inserts)
        await self._execute(conn, UPDATE, updates)
        await self._execute(conn, INSERT_VERSION, versions)
        await self._execute(conn, INSERT_CHANGE, changes)

    async def _bulk_of(self, conn: AsyncConnection) -> Bulk:
        if self._bulk is None:
            self._bulk = await Bulk.of(conn)
        return self._bulk

    async def _execute(
        self, conn: AsyncConnection, statement: ClauseElement, rows: list[dict[str, Any]]
    ) -> None:
        """Run one writing statement over ``rows`` (none: nothing to do), timed."""
        if not rows:
            return
        bulk = await self._bulk_of(conn)
        started = time.perf_counter()
        await bulk.executemany(statement, rows)
        self.write_seconds += time.perf_counter() - started
        self.rows_written += len(rows)

    async def _diffs(
        self, conn: AsyncConnection, changed: dict[str, tuple[str, int]], rows: list[dict[str, Any]]
    ) -> None:
        """Replace each changed entity's new content (parked in ``fields``) by its diff."""
        bulk = await self._bulk_of(conn)
        old: dict[str, str] = dict(await bulk.fetch(content_by_fqn(bulk.sqlite), list(changed)))
        for row in rows:
            await cooperative.checkpoint()
            if row["fqn"] in changed and row["change"] != "added":
                found: Diff = diff(json.loads(old[row["fqn"]]), json.loads(row["fields"]))
                row["fields"] = json.dumps(found.to_json())
                row["breaking"] = found.breaking
        # the superseded version keeps its content now (the current one's is in entities)
        superseded = [
            {"b_fqn": fqn, "b_version": version - 1, "b_content": old[fqn]}
            for fqn, (_, version) in changed.items()
        ]
        await self._execute(conn, SUPERSEDE, superseded)

    def set_scope(self, scope: RunScope) -> None:
        """Keep a service's scope for its deletions at commit (once per service read)."""
        self._scopes[scope.service] = scope
        self._service = self._service or scope.service

    async def commit(self) -> None:
        """Plan and apply the deletions, record the run, commit the one transaction.

        Deletions happen per service, each by its own scope: a service without one (a fleet's
        source that failed) loses nothing. The run is recorded once; ``run_services`` names
        the services it published (their *last seen* counts it).
        """
        try:
            conn = await self._open()
            await self._flush(conn)
            warnings = await self._delete(conn)
            started = time.perf_counter()
            services = sorted(self._scopes) or [self._service or ""]
            scopes = [self._scopes[name] for name in services if name in self._scopes]
            digests = sorted({scope.config_digest for scope in scopes})
            await conn.execute(
                sa.update(schema.runs)
                .where(schema.runs.c.id == self.run_id)
                .values(
                    service=", ".join(services),
                    status="published",
                    started_at=self._started,
                    ended_at=now(),
                    config_digest=_digest(digests),
                    units=json.dumps(self._units_of(scopes)),
                    counts=json.dumps(self.counts),
                    warnings=json.dumps([{"fqn": f, "message": m} for f, m in warnings]),
                )
            )
            await conn.execute(
                sa.insert(schema.run_services),
                [{"run_id": self.run_id, "service": name} for name in services],
            )
            await self._lock.commit()
            self.write_seconds += time.perf_counter() - started
        except sa.exc.SQLAlchemyError as exc:
            raise store_error(self._url, exc) from exc
        finally:
            self._conn = self._bulk = None
            with anyio.CancelScope(shield=True):
                await self._lock.rollback()

    async def _delete(self, conn: AsyncConnection) -> list[tuple[str, str]]:
        """Gather what this run did not deliver; delete by the rules where a scope is known.

        Without any scope (the sink used without a workflow) nothing is deleted, but what was
        not delivered is still marked missing, so that *last seen* stays true.
        """
        if not self._scopes:
            await self._gather_unread(conn, self._service or "")
            await self._apply(conn, (), (), ())
            return []
        delete: list[str] = []
        withheld: list[str] = []
        out_of_scope: list[str] = []
        warnings: list[tuple[str, str]] = []
        for service, scope in sorted(self._scopes.items()):
            live = await self._gather_unread(conn, service) - self._fresh[service]
            # every service's missing entities: the plan keeps this service's own
            known = [Known(r.fqn, r.kind, bool(r.is_view)) for r in self._missing.values()]
            plan = plan_deletions(
                scope,
                known,
                self._delivered,
                threshold=self._threshold,
                allow_mass_delete=self._allow,
                live=live,
            )
            delete += plan.delete
            withheld += plan.withheld
            out_of_scope += plan.out_of_scope
            for where, message in plan.warnings:
                log.warning("%s: %s", where, message, extra={"fqn": where})
                scope.report.add_issue("warning", where, message)
            warnings += plan.warnings
        await self._apply(conn, delete, withheld, out_of_scope)
        return warnings

    async def _gather_unread(self, conn: AsyncConnection, service: str) -> int:
        """Add the service's live entities under units this run did not read to the missing
        ones; return how many live entities the service has (this run's writes included)."""
        bulk = await self._bulk_of(conn)
        live_units = dict(await bulk.fetch(LIVE_UNITS, service))  # unit -> live entities
        unread = sorted(live_units.keys() - self._units)
        if unread:
            for row in map(Stored._make, await bulk.fetch(stored_by_unit(bulk.sqlite), unread)):
                if row.deleted_run is None:
                    self._missing[row.fqn] = row
        return sum(live_units.values())

    async def _apply(
        self,
        conn: AsyncConnection,
        delete: Iterable[str],
        withheld: Iterable[str],
        out_of_scope: Iterable[str],
    ) -> None:
        run, at = self.run_id, now()
        rows, changes, flags = [], [], []
        for fqn in delete:
            await cooperative.checkpoint()
            entity = self._missing.pop(fqn)
            rows.append({"key": fqn, "run": run, "at": at})
            changes.append(change_row(run, fqn, entity.kind, "deleted", entity.version))
        for fqn in withheld:
            entity = self._missing.pop(fqn)
            changes.append(change_row(run, fqn, entity.kind, "withheld", entity.version))
            flags.append({"key": fqn, "missing": entity.missing_since_run or run, "oos": None})
        for fqn in out_of_scope:
            entity = self._missing.pop(fqn)
            if entity.out_of_scope_run is None:  # recorded once, when it leaves the scope
                changes.append(change_row(run, fqn, entity.kind, "out_of_scope", entity.version))
                flags.append({"key": fqn, "missing": entity.missing_since_run or run, "oos": run})
        for entity in self._missing.values():  # not read this run (a failed unit, say)
            if entity.missing_since_run is None:
                flags.append({"key": entity.fqn, "missing": run, "oos": entity.out_of_scope_run})
        self.counts["deleted"] = len(rows)
        self.counts["withheld"] = sum(1 for c in changes if c["change"] == "withheld")
        self.counts["out_of_scope"] = sum(1 for c in changes if c["change"] == "out_of_scope")
        key: sa.BindParameter[str] = sa.bindparam("key")
        deleted = sa.update(E).where(E.c.fqn == key)
        deleted = deleted.values(
            deleted_run=sa.bindparam("run"),
            deleted_at=sa.bindparam("at"),
            missing_since_run=sa.bindparam("run"),
        )
        await self._execute(conn, deleted, rows)
        flagged = sa.update(E).where(E.c.fqn == key)
        flagged = flagged.values(
            missing_since_run=sa.bindparam("missing"), out_of_scope_run=sa.bindparam("oos")
        )
        await self._execute(conn, flagged, flags)
        await self._execute(conn, sa.insert(schema.changes), changes)

    def _units_of(self, scopes: list[RunScope]) -> dict[str, list[str]]:
        """The run's schemas by what became of them, every service's in one JSON value (each
        FQN starts with its service)."""
        units: dict[str, list[str]] = {"complete": [], "partial": [], "failed": [], "filtered": []}
        filtered: list[str] = []
        for scope in scopes:
            for discovered in scope.plan.units:
                fqn = discovered.unit.fqn
                if discovered.skipped_because is not None:
                    status = "filtered"
                elif fqn in scope.complete:
                    status = "complete"
                else:
                    status = "partial" if fqn in self._units else "failed"
                units[status].append(fqn)
            filtered += [d.database.fqn for d in scope.plan.databases if d.skipped_because]
        if filtered:
            units["filtered_databases"] = filtered
        return units

    async def discard(self) -> None:
        """Roll back; record the run as ``discarded`` in a small transaction of its own."""
        started = self._conn is not None
        self._conn = self._bulk = None
        with anyio.CancelScope(shield=True):
            await self._lock.rollback()
            if not started:
                return
            try:
                await self._record_discarded()
            except (MetaingestError, OSError, sa.exc.SQLAlchemyError) as exc:
                log.warning("catalog store %s: run not recorded: %s", describe(self._url), exc)

    async def _record_discarded(self) -> None:
        lock = Locked(self._engine, self._url, min(self._lock.timeout, 5.0))
        conn = await lock.begin()
        try:
            await conn.execute(
                sa.insert(schema.runs).values(
                    service=self._service or "",
                    status="discarded",
                    started_at=self._started,
                    ended_at=now(),
                    counts=json.dumps({"received": self.received}),
                )
            )
            await lock.commit()
        finally:
            await lock.rollback()
