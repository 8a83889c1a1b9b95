"""The catalog store: entities with their versions, every run and every change.

- ``schema`` / ``migrate``: the store's tables, its schema version and in-place upgrades;
- ``engine``: engines and the locked, one-transaction write every run goes through;
- ``content``: stored content, hashes (volatile figures excluded) and field-level diffs;
- ``publish``: one run's compare-as-you-go publish and its safe deletions;
- ``rows`` / ``bulk``: the rows and statements a publish writes and reads, and running them
  on the driver connection;
- ``queries`` / ``models``: reading (``open_store``) into frozen records;
- ``commands`` / ``render``: ``metaingest changes``, ``history`` and ``runs``.

The ``catalog`` sink (``metaingest.sinks.catalog``) is a thin adapter over ``publish``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .content import Diff, FieldChange
from .models import Change, EntityRecord, RunRecord, Version

if TYPE_CHECKING:
    from .queries import Store, open_store

__all__ = [
    "Change",
    "Diff",
    "EntityRecord",
    "FieldChange",
    "RunRecord",
    "Store",
    "Version",
    "open_store",
]


def __getattr__(name: str) -> Any:
    # SQLAlchemy is imported when a store is opened, not with the command line
    if name in ("Store", "open_store"):
        from . import queries

        return getattr(queries, name)
    raise AttributeError(name)
