"""One walk over a parsed view definition, for everything later steps look up.

Walking a sqlglot tree is a large share of the cost of lineage, so the walk that folds
identifiers as the engine does also notes the relations, CTE names and nested queries; they
are kept on the query (``meta``) and read by ``parse`` and ``direct``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect

__all__ = ["Survey", "survey"]

_KEY = "metaingest_survey"


@dataclass(frozen=True, slots=True)
class Survey:
    """What a definition holds: relations read (its CTE names and table functions left
    out), CTE names, every query nested in it, and whether it has a lambda."""

    tables: tuple[exp.Table, ...]
    ctes: frozenset[str]
    queries: tuple[exp.Query, ...]
    lambdas: bool


def survey(query: exp.Query, dialect: str | None = None, *, fold: bool = True) -> Survey:
    """The query's survey, made once. With ``dialect`` (a fresh parse), the same walk folds
    unquoted names as the engine does (sqlglot's ``normalize_identifiers``, PostgreSQL: lower
    case; ``fold=False`` when the caller did it) and gives each table without an alias its
    exact name as a quoted alias (sqlglot would alias "T" as t, and a column written "T".a,
    as pg_get_viewdef prints it, would not resolve)."""
    found = query.meta.get(_KEY)
    if isinstance(found, Survey):
        return found
    folder = Dialect.get_or_raise(dialect) if dialect is not None and fold else None
    tables: list[exp.Table] = []
    ctes: list[exp.CTE] = []
    queries: list[exp.Query] = []
    lambdas = False
    for node in query.walk():
        if isinstance(node, exp.Identifier):
            if folder is not None:
                folder.normalize_identifier(node)
        elif isinstance(node, exp.Table):
            tables.append(node)
        elif isinstance(node, exp.CTE):
            ctes.append(node)
        elif isinstance(node, exp.Lambda):
            lambdas = True
        if isinstance(node, exp.Query) and node is not query:
            queries.append(node)
    names = frozenset(cte.alias_or_name for cte in ctes)
    if dialect is not None:
        for table in tables:
            if not table.alias and table.name and isinstance(table.this, exp.Identifier):
                alias = exp.TableAlias(this=exp.to_identifier(table.name, quoted=True))
                table.set("alias", alias)
    out = Survey(
        tables=tuple(
            table
            for table in tables
            if table.name
            and not (not table.db and table.name in names)
            and not isinstance(table.this, exp.Func)
        ),
        ctes=names,
        queries=tuple(queries),
        lambdas=lambdas,
    )
    query.meta[_KEY] = out
    return out
