"""Sinks: where batches go. ``create_sink`` builds one from a validated sink config."""

from __future__ import annotations

from metaingest.config import (
    CatalogSinkConfig,
    JsonlSinkConfig,
    MetadataRestSinkConfig,
    WorkflowSettings,
)

from .base import CheckedSink, OpenableSink, RunScope, ScopedSink, Sink
from .jsonl import JsonlSink

__all__ = [
    "CheckedSink",
    "JsonlSink",
    "OpenableSink",
    "RunScope",
    "ScopedSink",
    "Sink",
    "create_sink",
]


def create_sink(
    config: JsonlSinkConfig | CatalogSinkConfig | MetadataRestSinkConfig,
    settings: WorkflowSettings | None = None,
) -> Sink:
    """Build the sink for a validated sink config (``settings``: the deletion fail-safe)."""
    if isinstance(config, CatalogSinkConfig):
        from .catalog import CatalogSink  # SQLAlchemy's import only when a store is used

        settings = settings or WorkflowSettings()
        return CatalogSink(
            config.url,
            lock_timeout=config.lock_timeout,
            delete_threshold=settings.delete_threshold,
            allow_mass_delete=settings.allow_mass_delete,
        )
    if isinstance(config, MetadataRestSinkConfig):
        from .metadata_rest import MetadataRestSink

        return MetadataRestSink(config)
    return JsonlSink(config.path, format=config.format)
