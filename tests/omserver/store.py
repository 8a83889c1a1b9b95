"""The stand-in's entity store: OpenMetadata's create-or-update, soft delete, restore, lists.

Behaviour follows OpenMetadata's documented API (and its server, where the docs are silent):

- ``PUT /v1/<collection>`` with a Create*Request creates the entity (201, version 0.1) or
  updates the one with the same FQN (200); the version goes up by 0.1 only when the request
  differs from the stored one; a PUT of a soft-deleted entity restores it (a change);
- the parent named in the request (service, database, databaseSchema) must exist and be
  live: otherwise 404 ``<kind> instance for <fqn> not found``;
- ``DELETE /v1/<collection>/{id}?hardDelete=false`` soft-deletes (version + 0.1); an entity
  with live children needs ``recursive=true`` (else 400), which soft-deletes them too;
- ``PUT /v1/<collection>/restore`` with ``{"id": ...}`` restores a soft-deleted entity;
- lists filter by the parent's FQN (``service``, ``database``, ``databaseSchema``), page by
  ``limit`` and an opaque ``after`` cursor, and honour ``include``.

FQNs are built here from the request, independently of metaingest's code: a name holding a
dot is wrapped in double quotes.
"""

from __future__ import annotations

import base64
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["COLLECTIONS", "ApiFailure", "Store"]

# collection -> (kind, the request key naming the parent, the parent's collection)
COLLECTIONS: dict[str, tuple[str, str | None, str | None]] = {
    "services/databaseServices": ("databaseService", None, None),
    "databases": ("database", "service", "services/databaseServices"),
    "databaseSchemas": ("databaseSchema", "database", "databases"),
    "tables": ("table", "databaseSchema", "databaseSchemas"),
    "storedProcedures": ("storedProcedure", "databaseSchema", "databaseSchemas"),
}
_PARENT_KIND = {
    "services/databaseServices": "databaseService",
    "databases": "database",
    "databaseSchemas": "databaseSchema",
}


class ApiFailure(Exception):
    """An HTTP error answer: status and OpenMetadata-style message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def quote(name: str) -> str:
    """OpenMetadata's FQN quoting of one name."""
    return f'"{name}"' if "." in name else name


@dataclass
class Entity:
    """One stored entity."""

    collection: str
    id: str
    fqn: str
    parent: str | None
    request: dict[str, Any]
    version: float = 0.1
    deleted: bool = False
    children: set[str] = field(default_factory=set)

    def bump(self) -> None:
        self.version = round(self.version + 0.1, 1)

    def view(self) -> dict[str, Any]:
        out = dict(self.request)
        out.update(
            id=self.id,
            fullyQualifiedName=self.fqn,
            version=self.version,
            deleted=self.deleted,
        )
        return out


class Store:
    """Thread-safe entities by FQN, one namespace per collection."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_fqn: dict[str, dict[str, Entity]] = {c: {} for c in COLLECTIONS}
        self.by_id: dict[str, Entity] = {}
        self.lineage: dict[tuple[str, str], dict[str, Any]] = {}  # (from id, to id) -> details

    def put(self, collection: str, request: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Create or update by FQN; (201|200, entity)."""
        _, parent_key, parent_collection = COLLECTIONS[collection]
        with self.lock:
            parent_fqn = None
            if parent_key is not None and parent_collection is not None:
                parent_fqn = str(request[parent_key])
                parent = self.by_fqn[parent_collection].get(parent_fqn)
                if parent is None or parent.deleted:
                    kind = _PARENT_KIND[parent_collection]
                    raise ApiFailure(404, f"{kind} instance for {parent_fqn} not found")
            name = quote(str(request["name"]))
            fqn = name if parent_fqn is None else f"{parent_fqn}.{name}"
            existing = self.by_fqn[collection].get(fqn)
            if existing is None:
                entity = Entity(collection, str(uuid.uuid4()), fqn, parent_fqn, request)
                self.by_fqn[collection][fqn] = entity
                self.by_id[entity.id] = entity
                if parent_fqn is not None and parent_collection is not None:
                    self.by_fqn[parent_collection][parent_fqn].children.add(entity.id)
                return 201, entity.view()
            if existing.request != request or existing.deleted:
                existing.request = request
                existing.deleted = False
                existing.bump()
            return 200, existing.view()

    def add_lineage(self, request: dict[str, Any]) -> None:
        """``PUT /lineage``: both ends must be live entities (404 otherwise); upsert the edge."""
        edge = request["edge"]
        with self.lock:
            ends = []
            for end in ("fromEntity", "toEntity"):
                entity = self.by_id.get(str(edge[end]["id"]))
                if entity is None or entity.deleted:
                    raise ApiFailure(
                        404, f"{edge[end]['type']} instance for {edge[end]['id']} not found"
                    )
                ends.append(entity.id)
            self.lineage[(ends[0], ends[1])] = edge.get("lineageDetails") or {}

    def get(self, collection: str, fqn: str) -> dict[str, Any]:
        """A live entity by FQN, or 404."""
        with self.lock:
            entity = self.by_fqn[collection].get(fqn)
            if entity is None or entity.deleted:
                kind = COLLECTIONS[collection][0]
                raise ApiFailure(404, f"{kind} instance for {fqn} not found")
            return entity.view()

    def delete(self, collection: str, entity_id: str, hard: bool, recursive: bool) -> None:
        """Soft-delete (hard deletes are refused: the sink must never ask for one)."""
        if hard:
            raise ApiFailure(400, "the stand-in refuses hard deletes")
        with self.lock:
            entity = self.by_id.get(entity_id)
            if entity is None or entity.collection != collection or entity.deleted:
                raise ApiFailure(
                    404, f"{COLLECTIONS[collection][0]} instance for {entity_id} not found"
                )
            live = [self.by_id[c] for c in entity.children if not self.by_id[c].deleted]
            if live and not recursive:
                raise ApiFailure(400, f"Entity {entity.fqn} is not empty; use recursive=true")
            self._soft_delete(entity)

    def _soft_delete(self, entity: Entity) -> None:
        for child in entity.children:
            if not self.by_id[child].deleted:
                self._soft_delete(self.by_id[child])
        entity.deleted = True
        entity.bump()

    def restore(self, collection: str, entity_id: str) -> dict[str, Any]:
        """Restore a soft-deleted entity."""
        with self.lock:
            entity = self.by_id.get(entity_id)
            if entity is None or entity.collection != collection:
                raise ApiFailure(
                    404, f"{COLLECTIONS[collection][0]} instance for {entity_id} not found"
                )
            if entity.deleted:
                entity.deleted = False
                entity.bump()
            return entity.view()

    def list(self, collection: str, query: dict[str, str]) -> dict[str, Any]:
        """One page of a list endpoint."""
        parent_key = COLLECTIONS[collection][1]
        limit = int(query.get("limit", "10"))
        if not 0 < limit <= 1_000_000:
            raise ApiFailure(400, "limit must be between 1 and 1000000")
        include = query.get("include", "non-deleted")
        parent = query.get(parent_key) if parent_key else None
        with self.lock:
            rows = [
                e
                for e in self.by_fqn[collection].values()
                if (parent is None or e.parent == parent)
                and (include == "all" or e.deleted == (include == "deleted"))
            ]
            rows.sort(key=lambda e: e.fqn)
            start = 0
            if "after" in query:
                last = base64.urlsafe_b64decode(query["after"].encode()).decode()
                start = next((i for i, e in enumerate(rows) if e.fqn > last), len(rows))
            page = rows[start : start + limit]
            paging: dict[str, Any] = {"total": len(rows)}
            if start + limit < len(rows):
                paging["after"] = base64.urlsafe_b64encode(page[-1].fqn.encode()).decode()
            return {"data": [e.view() for e in page], "paging": paging}

    def live(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every live entity of a collection by FQN (for assertions)."""
        with self.lock:
            return {f: e.view() for f, e in self.by_fqn[collection].items() if not e.deleted}

    def all(self, collection: str) -> dict[str, dict[str, Any]]:
        """Every entity, deleted or not, by FQN (for assertions)."""
        with self.lock:
            return {f: e.view() for f, e in self.by_fqn[collection].items()}
