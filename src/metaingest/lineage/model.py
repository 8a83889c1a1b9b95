"""Lineage of a view, as stored on its entity: upstream relations and per-column sources.

Everything is named by FQN, so lineage is compared, versioned and diffed with the view it
belongs to. Edges are only ever ones metaingest is sure of: an edge that could not be
resolved is left out and reported as a warning on the view, so an empty ``upstream`` means
"unresolved", never "no lineage".
"""

from __future__ import annotations

from typing import Literal

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
