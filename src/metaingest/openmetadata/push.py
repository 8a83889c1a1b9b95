"""What the metadata-rest sink does: PUT entities in dependency order, delete at commit.

``Pusher.start()`` checks the server (``GET /v1/system/version``) before anything is read from
the source. ``write(batch)`` PUTs, once each, the service and the batch's database, then the
schema, then its tables and stored procedures, at most ``concurrency`` requests at once; it
returns when the batch is on the server, so a slow server holds the runner back through its
bounded stream (memory stays bounded). A request the server refuses is an error-level issue
with the entity's FQN and the server's message; the run goes on.

``commit(*scopes)`` first sends each view's lineage (``PUT /v1/lineage``, one request per view
and upstream relation, ids from this run's PUTs or looked up by name for relations outside
the run; an upstream the server does not hold is a warning, never a guessed edge), then
applies ``markDeleted*`` by the shared rules of ``metaingest.deletion``:
list the server's live entities under what this run read completely, plan, and soft-delete
(``hardDelete=false``) what the plan allows — never under a failed or filtered schema, and
nothing at all past the mass-delete fail-safe. A fleet's run gives one scope per source that
was read (each its own service, its own fail-safe); a service without a scope (a source that
failed) has nothing deleted.

With ``lineage_only`` (OpenMetadata's lineage pipeline, which assumes its metadata pipeline
ran first) ``write`` PUTs nothing and only keeps the views' lineage; ``commit`` sends it with
every id, views' and upstreams' alike, looked up by name, and deletes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import anyio

from metaingest import cooperative
from metaingest.config import MetadataRestSinkConfig, WorkflowSettings
from metaingest.connectors.base import SchemaBatch
from metaingest.deletion import Deletions, Kind, Known, plan_deletions
from metaingest.entities import VIEW_TYPES, quote_name, split_fqn
from metaingest.lineage.model import ViewLineage
from metaingest.report import Report
from metaingest.sinks.base import RunScope

from .client import ApiError, OpenMetadataClient

__all__ = ["SERVICE_TYPES", "Pusher"]

log = logging.getLogger("metaingest.openmetadata")
T = TypeVar("T")

SERVICE_TYPES = {
    "postgres": "Postgres",
    "mysql": "Mysql",
    "mariadb": "MariaDB",
    "sqlite": "SQLite",
    "sqlalchemy": "CustomDatabase",
}
_COLLECTIONS: dict[Kind, str] = {
    "database": "databases",
    "databaseSchema": "databaseSchemas",
    "table": "tables",
    "storedProcedure": "storedProcedures",
}
_VIEW_TYPES = frozenset(t.value for t in VIEW_TYPES)


class Entity(Protocol):
    """Anything with an FQN and a Create*Request payload."""

    @property
    def fqn(self) -> str: ...

    def to_openmetadata(self) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class _Service:
    """A CreateDatabaseService request."""

    name: str
    service_type: str

    @property
    def fqn(self) -> str:
        """The service's FQN."""
        return quote_name(self.name)

    def to_openmetadata(self) -> dict[str, Any]:
        """The CreateDatabaseService payload (no connection: it stays out of the server)."""
        return {"name": self.name, "serviceType": self.service_type}


@dataclass(frozen=True, slots=True)
class _Live:
    kind: Kind
    id: str


class Pusher:
    """Pushes batches to one OpenMetadata server; deletes only in ``commit``."""

    def __init__(
        self,
        client: OpenMetadataClient,
        config: MetadataRestSinkConfig,
        *,
        source_type: str,
        settings: WorkflowSettings,
        report: Report,
        procedures: bool = True,
        services: Mapping[str, tuple[str, bool]] | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.service_type = SERVICE_TYPES.get(source_type, "CustomDatabase")
        self.settings = settings
        self.report = report
        self.procedures = procedures  # the source reads stored procedures: list them to delete
        # a fleet's sources by service name: (source type, reads stored procedures)
        self._per_service = dict(services or {})
        self.server_version: str | None = None
        self._limit = anyio.Semaphore(config.concurrency)
        self._services: set[str] = set()
        self._databases: set[str] = set()
        self._delivered: set[str] = set()  # every FQN the source delivered (for deletion)
        self._ids: dict[str, str | None] = {}  # table FQN -> server id (None: not there)
        self._lineage: list[tuple[str, ViewLineage]] = []  # views' lineage, sent at commit
        self.written = 0
        self.refused = 0
        self.deleted: list[str] = []
        self.lineage_edges = 0

    async def start(self) -> None:
        """Check that the server answers, accepts the token and is OpenMetadata."""
        self.server_version = await self.client.version()
        log.info("OpenMetadata server %s at %s", self.server_version, self.config.host_port)

    async def _put(self, collection: str, entity: Entity) -> bool:
        async with self._limit:
            try:
                answer = await self.client.put(collection, entity.to_openmetadata())
            except ApiError as exc:
                self.refused += 1
                self.report.add_issue(
                    "error", entity.fqn, f"OpenMetadata refused PUT /v1/{collection}: {exc}"
                )
                return False
        self.written += 1
        if collection == "tables" and isinstance(answer.get("id"), str):
            self._ids[entity.fqn] = answer["id"]  # for lineage edges, without a look-up
        return True

    async def write(self, batch: SchemaBatch) -> None:
        """PUT the batch's parents (once each), its schema, then its tables and procedures."""
        if self.config.lineage_only:
            self._keep_lineage(batch)
            return
        database = batch.database
        self._delivered.update((database.fqn, batch.schema.fqn))
        ok = True
        if database.service not in self._services:
            ok = await self._put_service(database.service)
            self._services.add(database.service)
        if database.fqn not in self._databases:
            ok = await self._put("databases", database) and ok
            self._databases.add(database.fqn)
        ok = await self._put("databaseSchemas", batch.schema) and ok
        children: list[tuple[str, Entity]] = [("tables", t) for t in batch.tables]
        children += [("storedProcedures", p) for p in getattr(batch, "procedures", ())]
        # an FQN is computed (quoted) on each access: 10,000 of them are ~30 ms, in slices
        async for chunk in cooperative.chunks(children):
            self._delivered.update(entity.fqn for _, entity in chunk)
        self._keep_lineage(batch)
        results: list[bool] = []

        async def one(child: tuple[str, Entity]) -> None:
            results.append(await self._put(*child))

        await self._each(children, one)
        already = any(issue.level == "error" for issue in batch.issues)  # counted by the workflow
        if not (ok and all(results)) and not already:
            self.report.units_partial += 1  # on the server only in part: not a success

    def _keep_lineage(self, batch: SchemaBatch) -> None:
        self._lineage += [(t.fqn, t.lineage) for t in batch.tables if t.lineage is not None]

    async def _put_service(self, service: str) -> bool:
        source_type = self._per_service.get(service, (None, True))[0]
        service_type = SERVICE_TYPES.get(source_type or "", self.service_type)
        return await self._put("services/databaseServices", _Service(service, service_type))

    async def commit(self, *scopes: RunScope) -> None:
        """Send the views' lineage, then soft-delete, by the shared rules and per service
        (one scope each), what this run no longer saw (``lineage_only``: nothing)."""
        await self._push_lineage()
        if self.config.lineage_only:
            return
        for scope in scopes:
            await self._delete(scope)

    async def _delete(self, scope: RunScope) -> None:
        live = await self._live(scope)
        if not live:
            return
        settings = self.settings

        def plan_them() -> Deletions:
            known = [Known(fqn, item.kind, is_view) for fqn, (item, is_view) in live.items()]
            return plan_deletions(
                scope,
                known,
                self._delivered,
                threshold=settings.delete_threshold,
                allow_mass_delete=settings.allow_mass_delete,
            )

        # pure, and O(entities on the server): a worker thread's work, not the loop's
        plan = await anyio.to_thread.run_sync(plan_them)
        for where, message in plan.warnings:
            self.report.add_issue("warning", where, message)
        doomed = [(fqn, live[fqn][0]) for fqn in plan.delete]
        # children first: a schema's recursive delete would otherwise take them along unlisted
        doomed.sort(key=lambda pair: -fqn_depth(pair[0]))

        async def delete(fqn: str, item: _Live) -> None:
            async with self._limit:
                try:
                    await self.client.delete(
                        _COLLECTIONS[item.kind], item.id, recursive=item.kind != "table"
                    )
                except ApiError as exc:
                    self.report.add_issue("error", fqn, f"OpenMetadata refused the delete: {exc}")
                    return
            self.deleted.append(fqn)
            log.info("%s: soft-deleted (%s)", fqn, item.kind, extra={"fqn": fqn})

        for depth in sorted({fqn_depth(fqn) for fqn, _ in doomed}, reverse=True):
            await self._each([d for d in doomed if fqn_depth(d[0]) == depth], lambda d: delete(*d))

    async def _each(self, items: Sequence[T], call: Callable[[T], Awaitable[None]]) -> None:
        """``call`` on every item, in order, by ``concurrency`` workers taking them from one
        iterator: a task per item would spawn 10,000 tasks in one go (one stall of the loop,
        and their memory) for a large schema."""
        pending = iter(items)

        async def worker() -> None:
            for item in pending:
                await call(item)

        async with anyio.create_task_group() as tg:
            for _ in range(min(self.config.concurrency, len(items))):
                tg.start_soon(worker)

    async def _push_lineage(self) -> None:
        """``PUT /v1/lineage`` per view and upstream relation, once both exist on the server:
        ids come from this run's PUTs, or by name (each FQN once) for the others."""
        ends = ("fromEntity", "toEntity")
        requests = [(view, r) for view, lineage in self._lineage for r in lineage.requests(view)]
        wanted = {r["edge"][end]["fullyQualifiedName"] for _, r in requests for end in ends}
        # looked up before any edge is sent: edges sharing an end would look it up each
        await self._each(sorted(wanted - self._ids.keys()), self._look_up)

        async def one(item: tuple[str, dict[str, Any]]) -> None:
            view, request = item
            edge = dict(request["edge"])
            for end in ends:
                fqn = edge[end]["fullyQualifiedName"]
                entity_id = self._ids.get(fqn)
                if entity_id is None:
                    message = f"lineage: {fqn} is not on the OpenMetadata server: edge left out"
                    self.report.add_issue("warning", view, message)
                    return
                edge[end] = {"id": entity_id, "type": edge[end]["type"]}
            async with self._limit:
                try:
                    await self.client.put("lineage", {**request, "edge": edge})
                except ApiError as exc:
                    message = f"OpenMetadata refused PUT /v1/lineage: {exc}"
                    self.report.add_issue("warning", view, message)
                    return
            self.lineage_edges += 1

        await self._each(requests, one)

    async def _look_up(self, fqn: str) -> None:
        """Keep a table's id from ``GET /v1/tables/name/{fqn}`` (None: not on the server)."""
        async with self._limit:
            try:
                found = await self.client.get_by_name("tables", fqn)
            except ApiError:
                found = {}
        entity_id = found.get("id")
        self._ids[fqn] = entity_id if isinstance(entity_id, str) else None

    async def _live(self, scope: RunScope) -> dict[str, tuple[_Live, bool]]:
        """The server's live entities under what this run may delete in."""
        config = self.config
        queries: list[tuple[Kind, str, dict[str, str]]] = []
        service = quote_name(scope.service)
        if config.mark_deleted_databases and scope.databases_listed:
            queries.append(("database", "databases", {"service": service}))
        read_databases = [d.database.fqn for d in scope.plan.databases if d.skipped_because is None]
        if config.mark_deleted_schemas:
            for fqn in read_databases:
                if fqn in self._databases:
                    queries.append(("databaseSchema", "databaseSchemas", {"database": fqn}))
        for schema in sorted(scope.complete):
            if config.mark_deleted_tables:
                queries.append(("table", "tables", {"databaseSchema": schema}))
            procedures = self._per_service.get(scope.service, (None, self.procedures))[1]
            if config.mark_deleted_stored_procedures and procedures:
                queries.append(("storedProcedure", "storedProcedures", {"databaseSchema": schema}))
        live: dict[str, tuple[_Live, bool]] = {}
        failed: list[str] = []

        async def one(kind: Kind, collection: str, params: dict[str, str]) -> None:
            async with self._limit:
                try:
                    async for item in self.client.list_all(collection, params):
                        fqn = item.get("fullyQualifiedName")
                        if isinstance(fqn, str) and isinstance(item.get("id"), str):
                            is_view = item.get("tableType") in _VIEW_TYPES
                            live[fqn] = (_Live(kind, item["id"]), is_view)
                except ApiError as exc:
                    failed.append(f"{next(iter(params.values()))}: {exc}")

        async with anyio.create_task_group() as tg:
            for kind, collection, params in queries:
                tg.start_soon(one, kind, collection, params)
        if failed:
            self.report.add_issue(
                "warning",
                service,
                f"could not list the server's entities ({failed[0]}); nothing is deleted",
            )
            return {}
        return live


def fqn_depth(fqn: str) -> int:
    """How many parts an FQN has."""
    return len(split_fqn(fqn))
