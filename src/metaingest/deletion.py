"""Safe deletion: which entities a stateful sink may mark deleted after a committed run.

One set of rules for every sink that remembers (the catalog store, an OpenMetadata server),
as pure functions of the run's ``RunScope``, what the sink held live before the run, and what
the run delivered:

- a table, view or stored procedure missing from the run is deleted only if its schema was
  read whole in this run (``scope.complete``) and this run's filters still select it;
- a schema only if its database's schema list was read in this run and the schema filter
  still selects it; a database only if the service's database listing was read
  (``scope.databases_listed``) and the database filter still selects it;
- what a filter drops is *out of scope*: recorded by the caller, never deleted; what was not
  read (a failed schema, a database whose listing failed) is left alone;
- children of a deleted schema or database go with it;
- a listing that is empty now but held objects before deletes nothing under it (more often a
  permission or connection problem than a real drop): a warning instead;
- entities of another service (a changed service name) are never touched;
- fail-safe: deletions of more than ``threshold`` % of the service's live entities are all
  withheld (a warning), unless ``allow_mass_delete``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Literal

from metaingest.entities import build_fqn, split_fqn
from metaingest.sinks.base import RunScope

__all__ = ["Deletions", "Known", "plan_deletions"]

Kind = Literal["database", "databaseSchema", "table", "storedProcedure"]

_DEPTH: dict[str, int] = {"database": 2, "databaseSchema": 3, "table": 4, "storedProcedure": 4}


@dataclass(frozen=True, slots=True)
class Known:
    """An entity a sink holds live from earlier runs (``is_view`` only for tables)."""

    fqn: str
    kind: Kind
    is_view: bool = False


@dataclass(frozen=True, slots=True)
class Deletions:
    """What to delete now, what the fail-safe held back, what is out of scope, and why."""

    delete: tuple[str, ...] = ()
    withheld: tuple[str, ...] = ()
    out_of_scope: tuple[str, ...] = ()
    warnings: tuple[tuple[str, str], ...] = field(default=())


def _parent(fqn: str) -> str:
    return build_fqn(*split_fqn(fqn)[:-1])


def plan_deletions(
    scope: RunScope,
    known: Iterable[Known],
    delivered: Collection[str],
    *,
    threshold: float,
    allow_mass_delete: bool = False,
    live: int | None = None,
) -> Deletions:
    """Apply the rules above; ``delivered`` holds the FQNs this run delivered.

    ``live`` is the number of the service's live entities before the run, when ``known``
    holds only the live entities this run did not deliver (a sink that compares as batches
    arrive need not hold the whole catalog); by default ``len(known)`` of this service.
    For the empty-listing rule ``delivered`` needs only one FQN under each parent that had
    any delivered.
    """
    service = build_fqn(scope.service)
    mine = [k for k in known if split_fqn(k.fqn)[:1] == [scope.service]]
    mine.sort(key=lambda k: _DEPTH[k.kind])  # parents before children
    databases = {d.database.fqn: d.skipped_because for d in scope.plan.databases}
    schemas = {u.unit.fqn: u.skipped_because for u in scope.plan.units}
    listed_under = Counter(_parent(fqn) for fqn in schemas)
    delivered_under = Counter(_parent(fqn) for fqn in delivered)
    known_under = Counter(_parent(k.fqn) for k in mine)

    candidates: list[str] = []
    gone: set[str] = set()  # deleted parents: their children go with them
    out_of_scope: list[str] = []
    empty: dict[str, str] = {}  # a parent whose listing is empty now -> warning

    def empty_listing(parent: str, now: int) -> bool:
        if now == 0 and known_under[parent] > 0:
            empty.setdefault(
                parent,
                f"listed {known_under[parent]} object(s) in an earlier run and none now; "
                "nothing under it is deleted (check the user's privileges and the connection)",
            )
            return True
        return False

    for entity in mine:
        fqn = entity.fqn
        if fqn in delivered:
            continue
        parent = _parent(fqn)
        name = split_fqn(fqn)[-1]
        if entity.kind == "database":
            if not scope.databases_listed or not scope.database_in_scope(name):
                out_of_scope.append(fqn)
            elif fqn not in databases and not empty_listing(service, len(databases)):
                candidates.append(fqn)
                gone.add(fqn)
            continue
        if parent in gone:  # children of a deleted parent go with it
            candidates.append(fqn)
            gone.add(fqn)
            continue
        if entity.kind == "databaseSchema":
            database = split_fqn(parent)[-1]
            if not scope.database_in_scope(database) or not scope.schema_in_scope(name):
                out_of_scope.append(fqn)
            elif fqn in schemas or databases.get(parent, "not read") is not None:
                continue  # still listed (exists), or its database's list was not read
            elif not empty_listing(parent, listed_under[parent]):
                candidates.append(fqn)
                gone.add(fqn)
            continue
        in_scope = (
            scope.table_in_scope(name, entity.is_view)
            if entity.kind == "table"
            else scope.procedure_in_scope(name)
        )
        _, database, schema, _ = split_fqn(fqn)
        if not (in_scope and scope.schema_in_scope(schema) and scope.database_in_scope(database)):
            out_of_scope.append(fqn)
        elif parent in scope.complete and not empty_listing(parent, delivered_under[parent]):
            candidates.append(fqn)

    warnings = [(where, message) for where, message in sorted(empty.items())]
    live = len(mine) if live is None else live
    if candidates and not allow_mass_delete and len(candidates) > live * threshold / 100:
        pct = 100 * len(candidates) / live
        warnings.append(
            (
                service,
                f"this run would delete {len(candidates)} of {live} live entities ({pct:.0f} % > "
                f"delete_threshold {threshold:g} %): every deletion is withheld "
                "(--allow-mass-delete to proceed)",
            )
        )
        return Deletions((), tuple(candidates), tuple(out_of_scope), tuple(warnings))
    return Deletions(tuple(candidates), (), tuple(out_of_scope), tuple(warnings))
