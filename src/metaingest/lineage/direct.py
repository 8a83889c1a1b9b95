"""Column lineage of the shapes where it is certain, without sqlglot's qualify and lineage walk.

``sqlglot.lineage`` qualifies the whole query and walks a scope graph per output column: a
few milliseconds per view. Most view definitions need none of that, because every column
they read names its source (PostgreSQL and MySQL print views fully qualified). This module
reads those shapes directly and answers exactly what the lineage walk would:

- a SELECT over base relations, CTEs and derived tables joined in FROM: an output column's
  sources are the columns in its expression (aggregates, window specifications, CASE and
  function arguments included), each resolved through CTEs and derived tables down to base
  relations;
- a set operation (UNION / INTERSECT / EXCEPT, ALL or not): output column i reads what
  column i of every branch reads;
- ``*`` (or ``t.*``) over a single FROM item whose columns are known.

Anything else — a scalar or WHERE subquery, LATERAL, a table function, USING columns named
without their table, a recursive CTE, alias column lists, an unknown relation or column —
raises ``_Unsure`` inside, and the caller runs the full path. Never a guessed edge.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlglot import exp

from metaingest.entities import quote_name

from .index import Relation, RelationIndex
from .survey import survey

__all__ = ["direct_columns"]

# the output columns of a query, in order: (name or None when unnamed, upstream column FQNs)
_Columns = list[tuple[str | None, frozenset[str]]]
# what a FROM item exposes: a base relation, or the output columns of a CTE / derived table
_Source = Relation | _Columns

# arguments that do not change which columns feed which output column
_SELECT_ARGS = frozenset(
    {"with_", "expressions", "hint", "distinct", "from_", "joins", "where", "group", "having"}
    | {"qualify", "order", "limit", "offset", "locks"}
)
_SETOP_ARGS = frozenset({"with_", "this", "expression", "distinct", "order", "limit", "offset"})
_TABLE_ARGS = frozenset({"this", "alias", "db", "catalog", "joins", "only"})
_JOIN_ARGS = frozenset({"this", "on", "side", "kind", "using"})
_WITH_ARGS = frozenset({"expressions"})


class _Unsure(Exception):
    """The direct path cannot be sure of the answer: the full path decides."""


def direct_columns(
    query: exp.Query,
    index: RelationIndex,
    catalog: str | None,
    db: str,
    view_columns: Sequence[str],
) -> dict[str, tuple[str, ...]] | None:
    """View column -> upstream column FQNs, or None where only the full path can tell."""
    found = survey(query)
    if found.lambdas:  # a lambda's parameters look like columns
        return None
    reader = _Reader(index, catalog, db, found.ctes)
    try:
        out = reader.query(query, {})
    except _Unsure:
        return None
    # a query nested anywhere the reader did not go (WHERE, ON, a projection): unsure
    if any(id(nested) not in reader.read for nested in found.queries):
        return None
    # the lineage walk names outputs after qualification (unnamed ones _col_<i>) and maps
    # them to view columns by position only when no two share a name
    names = [name or f"_col_{i}" for i, (name, _) in enumerate(out)]
    if len(out) != len(view_columns) or len(set(names)) != len(names):
        return None
    return {
        column: tuple(sorted(edges)) for column, (_, edges) in zip(view_columns, out, strict=True)
    }


def _check(node: exp.Expr, allowed: frozenset[str]) -> None:
    """Unsure when the node carries an argument outside ``allowed``."""
    for key, value in node.args.items():
        if key not in allowed and value not in (None, False, [], ""):
            raise _Unsure(key)


class _Reader:
    def __init__(
        self, index: RelationIndex, catalog: str | None, db: str, ctes: frozenset[str]
    ) -> None:
        self.index = index
        self.catalog = catalog
        self.db = db
        self.ctes = ctes  # every CTE name in the definition: one out of scope is unsure
        self.read: set[int] = set()  # ids of the queries read (the rest: unsure)

    def query(self, query: exp.Expr, env: dict[str, _Columns]) -> _Columns:
        """The output columns of a query; ``env`` holds the CTEs visible to it."""
        self.read.add(id(query))
        with_ = query.args.get("with_")
        if with_ is not None:
            _check(with_, _WITH_ARGS)  # not RECURSIVE, no SEARCH / CYCLE
            env = dict(env)
            local: set[str] = set()
            for cte in with_.expressions:
                _check(cte, frozenset({"this", "alias", "materialized"}))
                alias = cte.args.get("alias")
                name = cte.alias
                if alias is None or alias.columns or not name or name in local:
                    raise _Unsure("cte alias")
                local.add(name)
                env[name] = self.query(cte.this, env)
        if isinstance(query, exp.Subquery):  # a parenthesized query, not a FROM item
            _check(query, frozenset({"this", "with_", "order", "limit", "offset"}))
            return self.query(query.this, env)
        if isinstance(query, exp.SetOperation):
            _check(query, _SETOP_ARGS)
            left, right = self.query(query.this, env), self.query(query.expression, env)
            if len(left) != len(right):
                raise _Unsure("set operation branches differ in width")
            return [(name, a | b) for (name, a), (_, b) in zip(left, right, strict=True)]
        if isinstance(query, exp.Select):
            return self.select(query, env)
        raise _Unsure(type(query).__name__)

    def select(self, select: exp.Select, env: dict[str, _Columns]) -> _Columns:
        _check(select, _SELECT_ARGS)
        sources: dict[str, _Source] = {}
        source = select.args.get("from_")
        if source is not None:
            self.item(source.this, env, sources)
        for join in select.args.get("joins") or ():
            self.join(join, env, sources)
        out: _Columns = []
        for projection in select.expressions:
            if isinstance(projection, exp.Star) or (
                isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
            ):
                out += self.star(projection, sources)
                continue
            edges: set[str] = set()
            for column in projection.find_all(exp.Column):
                edges |= self.column(column, sources)
            if isinstance(projection, exp.Alias):
                name: str | None = projection.alias
            elif isinstance(projection, exp.Column):
                name = projection.name
            else:
                name = None
            out.append((name, frozenset(edges)))
        return out

    def join(self, join: exp.Join, env: dict[str, _Columns], sources: dict[str, _Source]) -> None:
        _check(join, _JOIN_ARGS)
        self.item(join.this, env, sources)

    def item(self, node: exp.Expr, env: dict[str, _Columns], sources: dict[str, _Source]) -> None:
        """Add what one FROM item exposes to ``sources``, keyed by its alias."""
        if isinstance(node, exp.Subquery) and isinstance(node.this, exp.Table):
            _check(node, frozenset({"this"}))  # PostgreSQL's parenthesized join
            self.read.add(id(node))
            self.item(node.this, env, sources)
            return
        found: _Source | None
        if isinstance(node, exp.Subquery):  # a derived table
            _check(node, frozenset({"this", "alias"}))
            self.read.add(id(node))
            alias = node.args.get("alias")
            if alias is None or alias.columns or not node.alias:
                raise _Unsure("derived table alias")
            found = self.query(node.this, env)
        elif isinstance(node, exp.Table) and isinstance(node.this, exp.Identifier):
            _check(node, _TABLE_ARGS)
            alias = node.args.get("alias")
            if alias is not None and alias.columns:
                raise _Unsure("alias column list")
            if not node.db and not node.catalog and node.name in env:
                found = env[node.name]
            elif not node.db and node.name in self.ctes:
                raise _Unsure("a CTE out of scope")
            else:
                found = self.index.find(node, self.catalog, self.db)
                if found is None:
                    raise _Unsure("unknown relation")
            for join in node.args.get("joins") or ():
                self.join(join, env, sources)
        else:
            raise _Unsure(type(node).__name__)
        key = node.alias_or_name
        if not key or key in sources:
            raise _Unsure("duplicate alias")
        sources[key] = found

    def column(self, column: exp.Column, sources: dict[str, _Source]) -> set[str]:
        """The upstream FQNs of one column reference."""
        if isinstance(column.this, exp.Star):
            raise _Unsure("star in an expression")
        if column.table:
            source = sources.get(column.table)
        elif len(sources) == 1:
            source = next(iter(sources.values()))
        else:
            raise _Unsure("unqualified column over several sources")
        if source is None:
            raise _Unsure("unknown table alias")
        if column.args.get("db") or column.args.get("catalog"):  # MySQL prints `db`.`t`.`c`
            f = self.index.f
            if not isinstance(source, Relation) or (
                f(column.db) != f(source.db)
                or (column.catalog and f(column.catalog) != f(source.catalog or ""))
            ):
                raise _Unsure("column qualified by another relation")
        if isinstance(source, Relation):
            name = self.index.columns[source.fqn].get(self.index.f(column.name))
            if name is None:
                raise _Unsure("unknown column")
            return {f"{source.fqn}.{quote_name(name)}"}
        matches = [edges for output, edges in source if output == column.name]
        if len(matches) != 1:
            raise _Unsure("column not (or twice) in a CTE or derived table")
        return set(matches[0])

    def star(self, star: exp.Expr, sources: dict[str, _Source]) -> _Columns:
        """``*`` or ``t.*`` over a single FROM item with known columns."""
        bare = star if isinstance(star, exp.Star) else star.this
        _check(bare, frozenset())  # no EXCEPT / REPLACE / RENAME / ILIKE
        if len(sources) != 1 or (isinstance(star, exp.Column) and star.table not in sources):
            raise _Unsure("star over several sources")
        source = next(iter(sources.values()))
        if isinstance(source, Relation):
            if not source.columns:
                raise _Unsure("star over a relation without known columns")
            return [
                (self.index.f(c), frozenset({f"{source.fqn}.{quote_name(c)}"}))
                for c in source.columns
            ]
        if any(name is None for name, _ in source):
            raise _Unsure("star over unnamed columns")
        return list(source)
