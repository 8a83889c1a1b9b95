"""Attach lineage to the views of one schema's batch, inside that schema's unit.

A connector calls ``attach_lineage`` at the end of ``extract``, on the unit's own connection:

1. every view definition is scanned for the relations it names (by the fast reader, sqlglot
   only where it declines); those outside the batch are looked up with ONE call to the
   connector's ``fetch`` (one catalog query per schema, whatever the number of views);
2. each definition is parsed against the batch's relations and the fetched ones
   (``parse.parse_view``), in a worker thread: parsing is CPU work that must not stall the
   event loop;
3. where the engine records dependencies (PostgreSQL's ``pg_depend``), they are the truth:
   the view's upstream relations are the recorded ones, and a parsed column edge outside the
   recorded columns is dropped and reported — it would be a parser bug.

Problems become warnings on the view's FQN; a view's lineage with an empty ``upstream``
means "unresolved", never "reads nothing".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from anyio.to_thread import run_sync as in_worker_thread

from metaingest import cooperative
from metaingest.connectors.base import SchemaBatch
from metaingest.entities import VIEW_TYPES, Table
from metaingest.report import Issue

from .fast import Reading
from .fast import read as read_fast
from .model import ColumnLineage, LineageSource, ViewLineage
from .parse import (
    Definition,
    Parsed,
    Relation,
    fast_answer,
    known_relations,
    parse_view,
    prepare,
    referenced_relations,
)

__all__ = ["Dependencies", "Fetch", "attach_lineage"]

# (catalog, db, name) of relations to look up, with the run's defaults filled in
Key = tuple[str, str, str]
Fetch = Callable[[Sequence[Key]], Awaitable[Sequence[Relation]]]


@dataclass(frozen=True, slots=True)
class Dependencies:
    """What the engine records that a view reads: relation FQNs and column FQNs."""

    relations: frozenset[str]
    columns: frozenset[str]


_NOTHING = Dependencies(frozenset(), frozenset())


def _relation(table: Table, catalog: str | None, schema: str) -> Relation:
    return Relation(table.fqn, catalog, schema, table.name, tuple(c.name for c in table.columns))


async def attach_lineage(
    batch: SchemaBatch,
    *,
    dialect: str,
    catalog: str | None,
    fetch: Fetch,
    dependencies: Mapping[str, Dependencies] | None = None,
) -> SchemaBatch:
    """The batch with ``lineage`` set on every view that has a definition.

    Where the CPU work runs: the fast reader (``fast.py``, ~0.1 ms a view) reads on the event
    loop's thread, a ``checkpoint`` between views; what it declines (sqlglot: 1-12 ms a view)
    is parsed and resolved in one worker thread per step. A schema whose views the reader all
    answers (every view metaingest's benchmark catalogs generate) never leaves the loop's
    thread: a hand-off costs more than its parse, and a CPU-bound worker thread makes the
    loop's thread wait for the GIL.
    """
    views = [t for t in batch.tables if t.table_type in VIEW_TYPES and t.view_definition]
    if not views:
        return batch
    schema = batch.schema.name
    own_keys = {(catalog or "", schema, t.name) for t in batch.tables}
    definitions: dict[str, Definition] = {}
    declined: list[Table] = []
    for view in views:
        await cooperative.checkpoint()
        assert view.view_definition is not None
        reading = read_fast(view.view_definition, dialect)
        if reading is None:
            declined.append(view)
        else:
            definitions[view.fqn] = reading
    if declined:  # sqlglot: in a worker thread, so the event loop stays responsive

        def parse_declined() -> dict[str, Definition]:
            return {v.fqn: prepare(v.view_definition or "", dialect, read=False) for v in declined}

        definitions.update(await in_worker_thread(parse_declined))
    wanted: dict[Key, None] = {}
    named: set[str] = set()  # names the views read, case folded
    for view in views:
        await cooperative.checkpoint()
        definition = definitions[view.fqn]
        if isinstance(definition, str):  # sqlglot cannot parse it: parse_view says why
            continue
        for ref_catalog, ref_db, name in referenced_relations(definition, dialect):
            key = (ref_catalog or (catalog or ""), ref_db or schema, name)
            if key not in own_keys:
                wanted[key] = None
            named.add(name.casefold())
    fetched = list(await fetch(list(wanted))) if wanted else []
    # only the relations views name (compared case-insensitively: a superset of those a name
    # can resolve to), not every table of the schema: lineage needs nothing of the others
    own = [_relation(t, catalog, schema) for t in batch.tables if t.name.casefold() in named]
    relations = known_relations(own + fetched, dialect)

    def resolve(view: Table) -> Parsed:
        return parse_view(
            definitions[view.fqn],
            dialect=dialect,
            view_columns=[c.name for c in view.columns],
            catalog=catalog,
            db=schema,
            relations=relations,
        )

    parsed: dict[str, Parsed] = {}
    slow: list[Table] = []
    for view in views:
        await cooperative.checkpoint()
        definition = definitions[view.fqn]
        answer = None
        if isinstance(definition, Reading):
            columns = [c.name for c in view.columns]
            answer = fast_answer(definition, relations, catalog, schema, columns)
        if answer is None:
            slow.append(view)  # sqlglot's qualifier and lineage walk decide
        else:
            parsed[view.fqn] = answer
    if slow:

        def resolve_slow() -> dict[str, Parsed]:
            return {view.fqn: resolve(view) for view in slow}

        parsed.update(await in_worker_thread(resolve_slow))
    lineages: dict[str, ViewLineage] = {}
    issues: list[Issue] = []
    for view in views:
        await cooperative.checkpoint()
        # a view the records show reading nothing (SELECT 1) has empty dependencies
        deps = None if dependencies is None else dependencies.get(view.fqn, _NOTHING)
        lineage, problems = _combine(parsed[view.fqn], deps)
        lineages[view.fqn] = lineage
        issues += (Issue(level="warning", fqn=view.fqn, message=f"lineage: {p}") for p in problems)
    tables = tuple(
        t.model_copy(update={"lineage": lineages[t.fqn]}) if t.fqn in lineages else t
        for t in batch.tables
    )
    return dataclasses.replace(batch, tables=tables, issues=(*batch.issues, *issues))


def _combine(parsed: Parsed, deps: Dependencies | None) -> tuple[ViewLineage, list[str]]:
    """Parsed edges, checked against the engine's dependency records when it has them."""
    problems = list(parsed.problems)
    if deps is None:
        columns = tuple(ColumnLineage(column=c, upstream=up) for c, up in parsed.columns.items())
        return ViewLineage(upstream=parsed.upstream, columns=columns, source="parsed"), problems
    for fqn in parsed.upstream:
        if fqn not in deps.relations:
            problems.append(f"parsed relation {fqn} is not in the server's dependency records")
    columns_out = []
    for column, upstream in parsed.columns.items():
        kept = tuple(edge for edge in upstream if edge in deps.columns)
        for edge in upstream:
            if edge not in deps.columns:
                problems.append(
                    f"column {column}: parsed edge {edge} is not in the server's dependency "
                    "records: dropped"
                )
        columns_out.append(ColumnLineage(column=column, upstream=kept))
    source: LineageSource = "catalog+parsed" if parsed.columns else "catalog"
    lineage = ViewLineage(
        upstream=tuple(sorted(deps.relations)), columns=tuple(columns_out), source=source
    )
    return lineage, problems
