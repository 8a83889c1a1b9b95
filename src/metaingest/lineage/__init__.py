"""View lineage: exact where the catalog records it, parsed (sqlglot) where it does not."""

from __future__ import annotations

from metaingest.lineage.model import ColumnLineage, LineageSource, ViewLineage

__all__ = ["ColumnLineage", "LineageSource", "ViewLineage"]
