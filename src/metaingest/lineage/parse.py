"""Column lineage of one view definition, parsed with sqlglot against known relations.

The definition is qualified with the columns of the relations this run knows (so ``*``
expands to the real columns and unqualified names resolve), then ``sqlglot.lineage`` walks
every output column down to base-relation columns. Only edges that land on a known relation
are kept; everything else becomes a problem message:

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
from sqlglot.schema import MappingSchema

from metaingest.entities import quote_name

__all__ = [
    "DIALECTS",
    "Parsed",
    "Relation",
    "known_relations",
    "parse_definition",
    "parse_view",
    "referenced_relations",
]

# metaingest source type -> sqlglot dialect (MariaDB parses as MySQL)
DIALECTS = {
    "postgres": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "sqlite": "sqlite",
    "duckdb": "duckdb",
}

_CASE_INSENSITIVE = frozenset({"sqlite", "duckdb"})
_TYPE = "UNKNOWN"  # column types do not matter to lineage


@dataclass(frozen=True, slots=True)
class Relation:
    """A relation names may resolve to: its FQN, how SQL names it, and its columns in order.

    ``catalog`` is the database where SQL can name it (PostgreSQL, DuckDB) and None where it
    cannot (MySQL, SQLite); ``db`` is the schema.
    """

    fqn: str
    catalog: str | None
    db: str
    name: str
    columns: tuple[str, ...]


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
    # unquoted names as the engine folds them (PostgreSQL: lower case), before any look-up
    parsed = normalize_identifiers(parsed, dialect=dialect)
    # A table without an alias gets its exact name as a quoted alias: sqlglot would alias
    # "T" as t, and then a column written "T".a (as pg_get_viewdef prints) would not resolve.
    tables: list[exp.Table] = []
    ctes: set[str] = set()
    for node in parsed.find_all(exp.Table, exp.CTE):
        if not isinstance(node, exp.Table):
            ctes.add(node.alias_or_name)
            continue
        tables.append(node)
        if not node.alias and node.name and isinstance(node.this, exp.Identifier):
            node.set("alias", exp.TableAlias(this=exp.to_identifier(node.name, quoted=True)))
    parsed.meta["metaingest_tables"] = [
        table
        for table in tables
        if table.name
        and not (not table.db and table.name in ctes)
        and not isinstance(table.this, exp.Func)
    ]
    return parsed


def _tables(query: exp.Expr) -> list[exp.Table]:
    """Relations a query reads, without its own CTE names and table functions (found once
    per query: kept in the expression's ``meta``)."""
    found = query.meta.get("metaingest_tables")
    if found is None:
        ctes = {cte.alias_or_name for cte in query.find_all(exp.CTE)}
        found = query.meta["metaingest_tables"] = [
            table
            for table in query.find_all(exp.Table)
            if table.name
            and not (not table.db and table.name in ctes)
            and not isinstance(table.this, exp.Func)
        ]
    return list(found)


def parse_definition(sql: str, dialect: str) -> exp.Query | str:
    """A view definition's query, parsed once; or why it does not parse."""
    try:
        query = _query(sql, dialect)
    except SqlglotError as exc:
        return f"cannot parse the view definition: {_first_line(exc)}"
    assert isinstance(query, exp.Query)
    return query


def referenced_relations(sql: str | exp.Query, dialect: str) -> list[tuple[str, str, str]]:
    """(catalog, db, name) of each relation a view definition names, as written ('' = unset)."""
    query = parse_definition(sql, dialect) if isinstance(sql, str) else sql
    if isinstance(query, str):
        return []
    seen: dict[tuple[str, str, str], None] = {}
    for table in _tables(query):
        seen[(table.catalog, table.db, table.name)] = None
    return list(seen)


class _Index:
    """Known relations keyed as the qualified query names them."""

    def __init__(self, relations: Iterable[Relation], fold: bool) -> None:
        self.fold = fold
        self.by_key: dict[tuple[str, str, str], Relation] = {}
        self.columns: dict[str, dict[str, str]] = {}  # fqn -> folded column -> column
        mapping: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for rel in relations:
            key = (self._f(rel.catalog or ""), self._f(rel.db), self._f(rel.name))
            self.by_key[key] = rel
            self.columns[rel.fqn] = {self._f(c): c for c in rel.columns}
            mapping.setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = {
                self._f(c): _TYPE for c in rel.columns
            }
        self.schema = mapping
        self.mapping_schema: MappingSchema | None = None

    def _f(self, name: str) -> str:
        return name.lower() if self.fold else name

    def find(self, table: exp.Table) -> Relation | None:
        return self.by_key.get((self._f(table.catalog), self._f(table.db), self._f(table.name)))


def _schema(index: _Index, with_catalog: bool, dialect: str) -> MappingSchema:
    """sqlglot's schema of the known relations, built once per index (it is not cheap)."""
    if index.mapping_schema is None:
        top = index.schema if with_catalog else index.schema.get("", {})
        index.mapping_schema = MappingSchema(dict(top), dialect=dialect, normalize=False)
    return index.mapping_schema


def _direct(
    query: exp.Query, index: _Index, catalog: str | None, db: str, view_columns: Sequence[str]
) -> dict[str, tuple[str, ...]] | None:
    """Column edges of the commonest shape without sqlglot's qualify and lineage walk.

    The shape: one SELECT (no CTE, no subquery, no set operation, no ``*``) over base
    relations joined in FROM, each output column an expression whose columns name their
    relation (PostgreSQL and MySQL print views that way) or whose FROM has one relation.
    Then a view column's sources are exactly the columns in its expression, which is also
    what ``sqlglot.lineage`` returns. Anything else: None, and the full path runs.
    """
    if not isinstance(query, exp.Select) or query.args.get("with") is not None:
        return None
    for node in query.walk():
        if node is query or (isinstance(node, exp.Subquery) and isinstance(node.this, exp.Table)):
            continue  # the query itself, or a parenthesized join
        if isinstance(node, exp.Query):
            return None  # a nested query: the full path resolves it
    source = query.args.get("from") or query.args.get("from_")
    if source is None:
        return None
    items = _from_items(source.this)
    for join in query.args.get("joins") or ():
        items += _from_items(join.this)
    by_alias: dict[str, Relation] = {}
    for item in items:
        if item is None or not isinstance(item.this, exp.Identifier):
            return None
        relation = index.find(_qualified(item, catalog, db))
        if relation is None or item.alias_or_name in by_alias:
            return None
        by_alias[item.alias_or_name] = relation
    selects = query.selects
    if len(selects) != len(view_columns):
        return None
    out: dict[str, tuple[str, ...]] = {}
    for view_column, select in zip(view_columns, selects, strict=True):
        edges: set[str] = set()
        for column in select.find_all(exp.Column):
            if isinstance(column.this, exp.Star) or isinstance(select, exp.Star):
                return None
            if column.table:
                relation = by_alias.get(column.table)
            elif len(by_alias) == 1:
                relation = next(iter(by_alias.values()))
            else:
                return None
            if relation is None:
                return None
            name = index.columns[relation.fqn].get(index._f(column.name))
            if name is None:
                return None
            edges.add(f"{relation.fqn}.{quote_name(name)}")
        out[view_column] = tuple(sorted(edges))
    return out


def _from_items(node: exp.Expr) -> list[exp.Table | None]:
    """The relations of a FROM item, through PostgreSQL's parenthesized joins
    (``FROM (a JOIN b ON ...)``); None for anything that is not a plain relation."""
    if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Table):
        return _from_items(node.this)
    if not isinstance(node, exp.Table):
        return [None]
    out: list[exp.Table | None] = [node]
    for join in node.args.get("joins") or ():
        out += _from_items(join.this)
    return out


def _leaves(node: Node) -> Iterable[Node]:
    stack = [node]
    while stack:
        current = stack.pop()
        if current.downstream:
            stack.extend(current.downstream)
        else:
            yield current


def known_relations(relations: Iterable[Relation], dialect: str) -> _Index:
    """The relations views may read, indexed once for every view of a schema."""
    return _Index(relations, dialect in _CASE_INSENSITIVE)


def parse_view(
    sql: str | exp.Query,
    *,
    dialect: str,
    view_columns: Sequence[str],
    catalog: str | None,
    db: str,
    relations: Iterable[Relation] | _Index,
) -> Parsed:
    """Parse one view definition (text, or parsed by ``parse_definition``) against known
    relations; ``catalog``/``db`` are where unqualified names resolve."""
    index = relations if isinstance(relations, _Index) else known_relations(relations, dialect)
    fold = index.fold
    query = parse_definition(sql, dialect) if isinstance(sql, str) else sql
    if isinstance(query, str):
        return Parsed(problems=(query,))
    with_catalog = catalog is not None
    defaults = {"catalog": catalog, "db": db} if with_catalog else {"db": db}
    problems: list[str] = []
    upstream: dict[str, None] = {}
    unknown = False
    for table in _tables(query):
        found = index.find(_qualified(table, catalog, db))
        if found is None:
            unknown = True
            problems.append(f"unknown relation {table.sql(dialect=dialect)}: no lineage to it")
        else:
            upstream[found.fqn] = None
    if unknown:
        problems.append("column lineage skipped: the view reads a relation this run does not know")
        return Parsed(tuple(sorted(upstream)), {}, tuple(problems))
    direct = _direct(query, index, catalog, db, view_columns)
    if direct is not None:
        return Parsed(tuple(sorted(upstream)), direct, tuple(problems))
    try:
        nodes = lineage(
            None,
            query,
            _schema(index, with_catalog, dialect),
            dialect=dialect,
            trim_selects=False,  # no per-column copy of the query: only leaves are read
            copy=False,  # the query is this call's own
            **defaults,
        )
    except SqlglotError as exc:
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


def _qualified(table: exp.Table, catalog: str | None, db: str) -> exp.Table:
    """The table with the defaults filled in where the SQL left its db or catalog out."""
    out = table.copy()
    if not table.db:
        out.set("db", exp.to_identifier(db))
    if catalog is not None and not table.catalog:
        out.set("catalog", exp.to_identifier(catalog))
    return out


def _edge(leaf: Node, index: _Index) -> str | None:
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
    name = index.columns[relation.fqn].get(index._f(text))
    return None if name is None else f"{relation.fqn}.{quote_name(name)}"


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
