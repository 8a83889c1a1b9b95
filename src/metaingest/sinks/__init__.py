"""Sinks: where batches go. ``create_sink`` builds one from a validated sink config."""

from __future__ import annotations

from metaingest.config import JsonlSinkConfig, MetadataRestSinkConfig

from .base import OpenableSink, RunScope, ScopedSink, Sink
from .jsonl import JsonlSink

__all__ = ["JsonlSink", "OpenableSink", "RunScope", "ScopedSink", "Sink", "create_sink"]


def create_sink(config: JsonlSinkConfig | MetadataRestSinkConfig) -> Sink:
    """Build the sink for a validated sink config."""
    if isinstance(config, MetadataRestSinkConfig):
        from .metadata_rest import MetadataRestSink

        return MetadataRestSink(config)
    return JsonlSink(config.path, format=config.format)
