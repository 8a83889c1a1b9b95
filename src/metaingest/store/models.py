"""What reading the store returns: frozen, typed records of changes, versions, entities, runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .content import Diff

__all__ = ["Change", "ChangeKind", "EntityRecord", "RunRecord", "Version"]

ChangeKind = Literal["added", "updated", "deleted", "restored", "withheld", "out_of_scope"]

# real changes; ``withheld`` and ``out_of_scope`` record deletions that were not made
CHANGES: tuple[ChangeKind, ...] = ("added", "updated", "deleted", "restored")


@dataclass(frozen=True, slots=True)
class Change:
    """One change of one entity in one run; ``at`` is when the run was published."""

    run: int
    at: str
    fqn: str
    kind: str
    change: ChangeKind
    version: int | None
    breaking: bool
    fields: Diff = field(default_factory=Diff)

    def to_json(self) -> dict[str, Any]:
        """The form of ``metaingest changes --format json`` (store/changes.schema.json)."""
        return {
            "run": self.run,
            "at": self.at,
            "fqn": self.fqn,
            "kind": self.kind,
            "change": self.change,
            "version": self.version,
            "breaking": self.breaking,
            "fields": self.fields.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Version:
    """One version of an entity: its content and the change that made it."""

    fqn: str
    version: int
    run: int
    at: str
    content: Mapping[str, Any]
    change: Change | None


@dataclass(frozen=True, slots=True)
class EntityRecord:
    """An entity's current state in the store."""

    fqn: str
    kind: str
    version: int
    content: Mapping[str, Any]
    content_hash: str
    first_seen_run: int
    first_seen_at: str
    last_seen_run: int | None
    last_seen_at: str | None
    deleted_run: int | None
    deleted_at: str | None

    @property
    def deleted(self) -> bool:
        """True when a run marked the entity deleted (and none restored it since)."""
        return self.deleted_run is not None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run: status (``published``, ``discarded``, ``running``), counts, units, warnings."""

    id: int
    service: str
    status: str
    started_at: str
    ended_at: str | None
    config_digest: str | None
    counts: Mapping[str, int]
    units: Mapping[str, tuple[str, ...]]
    warnings: tuple[tuple[str, str], ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id,
            "service": self.service,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "config_digest": self.config_digest,
            "counts": dict(self.counts),
            "units": {k: list(v) for k, v in self.units.items()},
            "warnings": [{"fqn": f, "message": m} for f, m in self.warnings],
        }
