"""Lineage of a view, as stored on its entity: upstream relations and per-column sources.

Everything is named by FQN, so lineage is compared, versioned and diffed with the view it
belongs to. Edges are only ever ones metaingest is sure of: an edge that could not be
resolved is left out and reported as a warning on the view, so an empty ``upstream`` means
"unresolved", never "no lineage".
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

__all__ = ["ColumnLineage", "LineageSource", "ViewLineage"]

LineageSource = Literal["catalog", "parsed", "catalog+parsed"]


class ColumnLineage(BaseModel):
    """The upstream columns (FQNs: ``table_fqn.column``) that feed one view column."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    upstream: tuple[str, ...]


class ViewLineage(BaseModel):
    """A view's direct upstreams (one hop) and, per view column, its source columns.

    ``source`` says where the edges come from: the engine's own dependency records
    (``catalog``), parsing the view definition (``parsed``), or parsing checked against
    the dependency records (``catalog+parsed``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    upstream: tuple[str, ...]
    columns: tuple[ColumnLineage, ...] = ()
    source: LineageSource = "parsed"

    def requests(self, view_fqn: str) -> list[dict[str, Any]]:
        """One AddLineageRequest body per upstream relation, entities named by FQN.

        OpenMetadata's entity references need the entity's id, which only its server knows:
        a sink that talks to a server swaps each ``{"type", "fullyQualifiedName"}`` for the
        id it resolves by name; the JSONL ``openmetadata`` format keeps the FQNs as they are.
        """
        # entities imports this module for Table.lineage: its FQN helpers are taken here
        from metaingest.entities import build_fqn, quote_name, split_fqn

        by_relation: dict[str, list[dict[str, Any]]] = {fqn: [] for fqn in self.upstream}
        for column in self.columns:
            sources: dict[str, list[str]] = {}
            for edge in column.upstream:
                sources.setdefault(build_fqn(*split_fqn(edge)[:-1]), []).append(edge)
            for relation, edges in sources.items():
                if relation in by_relation:
                    to = f"{view_fqn}.{quote_name(column.column)}"
                    by_relation[relation].append({"fromColumns": edges, "toColumn": to})
        out = []
        for relation, columns in by_relation.items():
            details: dict[str, Any] = {"source": "ViewLineage"}
            if columns:
                details["columnsLineage"] = columns
            out.append(
                {
                    "edge": {
                        "fromEntity": {"type": "table", "fullyQualifiedName": relation},
                        "toEntity": {"type": "table", "fullyQualifiedName": view_fqn},
                        "lineageDetails": details,
                    }
                }
            )
        return out
