"""The relations a view may read, indexed as the parsed SQL names them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlglot import exp
from sqlglot.schema import MappingSchema

__all__ = ["Relation", "RelationIndex", "known_relations"]

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


class RelationIndex:
    """Known relations keyed as the qualified query names them."""

    def __init__(self, relations: Iterable[Relation], fold: bool) -> None:
        self.fold = fold
        self.by_key: dict[tuple[str, str, str], Relation] = {}
        self.columns: dict[str, dict[str, str]] = {}  # fqn -> folded column -> column
        mapping: dict[str, dict[str, dict[str, dict[str, str]]]] = {}
        for rel in relations:
            key = (self.f(rel.catalog or ""), self.f(rel.db), self.f(rel.name))
            self.by_key[key] = rel
            self.columns[rel.fqn] = {self.f(c): c for c in rel.columns}
            mapping.setdefault(key[0], {}).setdefault(key[1], {})[key[2]] = {
                self.f(c): _TYPE for c in rel.columns
            }
        self.schema = mapping
        self._mapping_schema: MappingSchema | None = None

    def f(self, name: str) -> str:
        """A name as the engine compares it (folded where the engine ignores case)."""
        return name.lower() if self.fold else name

    def find(self, table: exp.Table, catalog: str | None = None, db: str = "") -> Relation | None:
        """The known relation a table names; ``catalog``/``db`` fill the parts it leaves out."""
        return self.lookup(table.catalog, table.db, table.name, catalog, db)

    def lookup(
        self, catalog: str, db: str, name: str, default_catalog: str | None, default_db: str
    ) -> Relation | None:
        """The known relation (catalog, db, name) names, '' parts filled by the defaults."""
        key = (self.f(catalog or default_catalog or ""), self.f(db or default_db), self.f(name))
        return self.by_key.get(key)

    def mapping_schema(self, with_catalog: bool, dialect: str) -> MappingSchema:
        """sqlglot's schema of the known relations, built once (it is not cheap)."""
        if self._mapping_schema is None:
            top = self.schema if with_catalog else self.schema.get("", {})
            self._mapping_schema = MappingSchema(dict(top), dialect=dialect, normalize=False)
        return self._mapping_schema


def known_relations(relations: Iterable[Relation], dialect: str) -> RelationIndex:
    """The relations views may read, indexed once for every view of a schema."""
    return RelationIndex(relations, dialect in _CASE_INSENSITIVE)
