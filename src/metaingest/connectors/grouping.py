"""Small schemas of one database read several to a round of catalog queries.

A schema of a dozen relations costs its round trips (a transaction and three or more catalog
queries), not its rows: a catalog of many small schemas is bound by them. A connector that
can read several schemas in one round (``GroupExtractor``) says how much each schema weighs
(``group_size``, learnt cheaply at discovery) and how much one round may carry
(``group_budget``); ``plan_groups`` packs consecutive small schemas of the same database
into groups within that budget. Every other schema is a group of one.

A group is one slot and one connection in the runner; each of its schemas stays a unit of
its own for errors, retries, progress, the report and the stores' deletion rules: the runner
records each one, and when a group's round fails it reads the group's schemas one at a time,
each with its own retries (``metaingest.runner``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from .base import SchemaBatch, Unit

__all__ = ["GroupExtractor", "plan_groups"]

ConnT = TypeVar("ConnT", contravariant=True)

# a group never holds more schemas than this, however small they are (empty ones weigh 0)
MAX_SCHEMAS = 64


@runtime_checkable
class GroupExtractor(Protocol[ConnT]):
    """A connector that reads several schemas of one database in one round of queries."""

    group_budget: int

    def group_size(self, unit: Unit) -> int | None:
        """The weight of ``unit``'s catalog (None when unknown: it is read on its own)."""
        ...

    async def extract_group(self, units: Sequence[Unit], connection: ConnT) -> list[SchemaBatch]:
        """One batch per unit, in order, each exactly what ``extract`` returns for it."""
        ...


def _groups(connector: Any) -> bool:
    """Whether ``connector`` reads groups: it can, its budget allows, and ``extract`` is not
    overridden below the class whose ``extract_group`` runs (a subclass that wraps
    ``extract`` must see every schema go through it)."""
    if not isinstance(connector, GroupExtractor) or connector.group_budget <= 0:
        return False
    mro = type(connector).__mro__

    def owner(name: str) -> type:
        return next(cls for cls in mro if name in vars(cls))

    return issubclass(owner("extract_group"), owner("extract"))


def plan_groups(connector: Any, units: Sequence[Unit], spread: int = 1) -> list[tuple[Unit, ...]]:
    """``units`` in order, consecutive small ones of one database packed into groups.

    A schema whose weight is unknown or above the connector's budget is a group of one, and
    so is every schema of a connector that cannot read groups. ``spread``: the slots the
    units are to keep busy; a group holds at most ``len(units) / spread`` schemas (rounded
    up), so that grouping never leaves a slot without work that it could have had.
    """
    if not _groups(connector):
        return [(unit,) for unit in units]
    budget = connector.group_budget
    most = min(MAX_SCHEMAS, max(1, -(-len(units) // spread)))
    groups: list[tuple[Unit, ...]] = []
    current: list[Unit] = []
    weight = 0
    for unit in units:
        size = connector.group_size(unit)
        fits = (
            current
            and size is not None
            and current[0].database.name == unit.database.name
            and weight + size <= budget
            and len(current) < most
        )
        if not fits:
            if current:
                groups.append(tuple(current))
            current, weight = [], 0
        if size is None or size > budget:
            groups.append((unit,))
            continue
        current.append(unit)
        weight += size
    if current:
        groups.append(tuple(current))
    return groups
