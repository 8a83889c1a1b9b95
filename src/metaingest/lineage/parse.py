"""Column lineage of one view definition, parsed against known relations.

The hot path is ``fast``: a hand-written reader of the text servers print, which answers the
common shapes without sqlglot at all. Where it declines, the definition is parsed with
sqlglot once and walked once (``survey``). Where ``direct`` is sure of the
answer (most views: SELECTs, joins, CTEs, derived tables, set operations), its edges are
the answer; otherwise the definition is qualified with the columns of the relations this run
knows (so ``*`` expands to the real columns and unqualified names resolve) and
``sqlglot.lineage`` walks every output column down to base-relation columns — the same edges,
at several times the CPU. Only edges that land on a known relation are kept; everything else
becomes a problem message:

- a definition that does not parse: no edges at all;
- a relation the run does not know: its table edge is missing, and no column edges are
  emitted for the view (an unknown relation could own any unqualified column, so a column
  edge would be a guess);
- a column that resolves to no relation (ambiguous, or from an unknown source): that edge is
  dropped; the view column keeps the edges that did resolve.

Pure and synchronous: the caller decides where the CPU work runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.lineage import Node, lineage
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from metaingest.entities import quote_name

from .direct import direct_columns
from .fast import Reading
from .fast import read as read_fast
from .index import Relation, RelationIndex, known_relations
from .survey import survey

__all__ = [
    "DIALECTS",
    "Definition",
    "Parsed",
    "Reading",
    "Relation",
    "known_relations",
    "parse_definition",
    "parse_view",
    "prepare",
    "referenced_relations",
]

# a view definition: its text, parsed by sqlglot, or read by the fast reader
Definition = str | exp.Query | Reading

# metaingest source type -> sqlglot dialect (MariaDB parses as MySQL)
DIALECTS = {
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
}


@dataclass(frozen=True, slots=True)
class Parsed:
    """What parsing found: upstream relation FQNs, view column -> upstream column FQNs."""

    upstream: tuple[str, ...] = ()
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    problems: tuple[str, ...] = ()


def _query(sql: str, dialect: str) -> exp.Expr:
    """The SELECT of a view definition (a bare query or a whole CREATE VIEW statement)."""
    parsed = sqlglot.parse_one(sql, dialect=dialect)
    if isinstance(parsed, exp.Create):
        parsed = parsed.expression
    if not isinstance(parsed, exp.Query):
        raise SqlglotError(f"not a query: {type(parsed).__name__}")
    # fold names as the engine does, in the walk that notes tables, CTEs and subqueries;
    # sqlglot's own pass where a comment marks names case-sensitive (it skips those)
    marked = "sqlglot.meta" in sql
    if marked:
        parsed = normalize_identifiers(parsed, dialect=dialect)
    survey(parsed, dialect, fold=not marked)
    return parsed


# what sqlglot raises on some definitions instead of its own errors (seen: IndexError on
# ``var_map(x)``, AttributeError on MySQL's ``date_add(x)``): a view's warning, never a failed unit
_PARSER_FAILURES = (SqlglotError, AttributeError, IndexError, KeyError, TypeError, ValueError)


def parse_definition(sql: str, dialect: str) -> exp.Query | str:
    """A view definition's query, parsed once; or why it does not parse."""
    try:
        query = _query(sql, dialect)
    except (*_PARSER_FAILURES, RecursionError) as exc:
        return f"cannot parse the view definition: {_first_line(exc)}"
    assert isinstance(query, exp.Query)
    return query


def prepare(sql: str, dialect: str, *, read: bool = True) -> Definition:
    """A view definition made ready for ``referenced_relations`` and ``parse_view``: read by
    the fast reader where it can (no sqlglot), else parsed by sqlglot; the text itself where
    sqlglot cannot parse it either (``parse_view`` then says why). ``read=False``: the
    caller knows the reader declines it (sqlglot only)."""
    reading = read_fast(sql, dialect) if read else None
    if reading is not None:
        return reading
    query = parse_definition(sql, dialect)
    return sql if isinstance(query, str) else query


def referenced_relations(sql: Definition, dialect: str) -> list[tuple[str, str, str]]:
    """(catalog, db, name) of each relation a view definition names, as written ('' = unset)."""
    if isinstance(sql, str):
        sql = prepare(sql, dialect)
    if isinstance(sql, Reading):
        return list(sql.tables)
    query = sql if isinstance(sql, exp.Query) else parse_definition(sql, dialect)
    if isinstance(query, str):
        return []
    seen: dict[tuple[str, str, str], None] = {}
    for table in survey(query).tables:
        seen[(table.catalog, table.db, table.name)] = None
    return list(seen)


def fast_answer(
    reading: Reading,
    index: RelationIndex,
    catalog: str | None,
    db: str,
    view_columns: Sequence[str],
) -> Parsed | None:
    """The fast reader's answer, or None where it declines. A relation this run does not
    know is left to the full path, which says so in its own words."""
    answer = reading.lineage(index, catalog, db, view_columns)
    return None if answer is None else Parsed(answer[0], answer[1], ())


def _leaves(node: Node) -> Iterable[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.downstream:
            stack.extend(current.downstream)
        else:
            yield current


def parse_view(
    sql: Definition,
    *,
    dialect: str,
    view_columns: Sequence[str],
    catalog: str | None,
    db: str,
    relations: Iterable[Relation] | RelationIndex,
    direct: bool = True,
) -> Parsed:
    """Parse one view definition (text, or made ready by ``prepare`` / ``parse_definition``)
    against known relations; ``catalog``/``db`` are where unqualified names resolve.

    ``direct``: answer the shapes the fast reader and ``direct.direct_columns`` are sure of
    without sqlglot's lineage walk (same edges, a fraction of the CPU); False always parses
    with sqlglot and walks (tests compare).
    """
    index = (
        relations if isinstance(relations, RelationIndex) else known_relations(relations, dialect)
    )
    fold = index.fold
    if isinstance(sql, str) and direct:
        sql = read_fast(sql, dialect) or sql
    if isinstance(sql, Reading):
        answer = fast_answer(sql, index, catalog, db, view_columns) if direct else None
        if answer is not None:
            return answer
        sql = sql.sql  # the reader declined: sqlglot decides, problems and all
    query = parse_definition(sql, dialect) if isinstance(sql, str) else sql
    if isinstance(query, str):
        return Parsed(problems=(query,))
    with_catalog = catalog is not None
    defaults = {"catalog": catalog, "db": db} if with_catalog else {"db": db}
    problems: list[str] = []
    upstream: dict[str, None] = {}
    unknown = False
    for table in survey(query).tables:
        found = index.find(table, catalog, db)
        if found is None:
            unknown = True
            problems.append(f"unknown relation {table.sql(dialect=dialect)}: no lineage to it")
        else:
            upstream[found.fqn] = None
    if unknown:
        problems.append("column lineage skipped: the view reads a relation this run does not know")
        return Parsed(tuple(sorted(upstream)), {}, tuple(problems))
    fast = direct_columns(query, index, catalog, db, view_columns) if direct else None
    if fast is not None:
        return Parsed(tuple(sorted(upstream)), fast, tuple(problems))
    try:
        nodes = lineage(
            None,
            query,
            index.mapping_schema(with_catalog, dialect),
            dialect=dialect,
            trim_selects=False,  # no per-column copy of the query: only leaves are read
            copy=False,  # the query is this call's own
            **defaults,
        )
    except (*_PARSER_FAILURES, RecursionError) as exc:
        problems.append(f"column lineage skipped: {_first_line(exc)}")
        return Parsed(tuple(sorted(upstream)), {}, tuple(problems))
    assert isinstance(nodes, dict)
    names = list(nodes)
    if len(names) == len(view_columns):  # positional: CREATE VIEW v(a, b) renames columns
        pairs = list(zip(view_columns, names, strict=True))
    else:
        folded = {(n.lower() if fold else n): n for n in names}
        pairs = [(c, folded.get(c.lower() if fold else c, "")) for c in view_columns]
    columns: dict[str, tuple[str, ...]] = {}
    for view_column, name in pairs:
        node = nodes.get(name)
        if node is None:
            problems.append(f"column {view_column}: not found in the parsed definition")
            continue
        edges: dict[str, None] = {}
        for leaf in _leaves(node):
            edge = _edge(leaf, index)
            if edge is not None:
                edges[edge] = None
            elif isinstance(leaf.source, exp.Table | exp.Placeholder):
                problems.append(f"column {view_column}: cannot resolve {leaf.name}")
        columns[view_column] = tuple(sorted(edges))
    return Parsed(tuple(sorted(upstream)), columns, tuple(problems))


def _edge(leaf: Node, index: RelationIndex) -> str | None:
    """The upstream column FQN a lineage leaf names, if it lands on a known relation."""
    source = leaf.source
    if not isinstance(source, exp.Table):
        return None
    relation = index.find(source)
    if relation is None:
        return None
    text = leaf.name  # the column as sqlglot prints it: alias.column
    if '"' in text:
        try:
            column = sqlglot.parse_one(text, into=exp.Column)
        except SqlglotError:
            return None
        if not isinstance(column, exp.Column) or isinstance(column.this, exp.Star):
            return None
        text = column.name
    else:
        text = text.rpartition(".")[2]
        if text == "*":
            return None
    name = index.columns[relation.fqn].get(index.f(text))
    return None if name is None else f"{relation.fqn}.{quote_name(name)}"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    first = text[0][:200] if text else type(exc).__name__
    if isinstance(exc, SqlglotError):
        return first
    return f"the parser failed ({type(exc).__name__}: {first})"  # a bug of sqlglot's
