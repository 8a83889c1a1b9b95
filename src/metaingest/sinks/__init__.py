"""Sinks: where batches go. ``create_sink`` builds one from a validated sink config."""

from __future__ import annotations

from metaingest.config import JsonlSinkConfig

from .base import CheckedSink, RunScope, ScopedSink, Sink
from .jsonl import JsonlSink

__all__ = ["CheckedSink", "JsonlSink", "RunScope", "ScopedSink", "Sink", "create_sink"]


def create_sink(config: JsonlSinkConfig) -> Sink:
    """Build the sink for a validated sink config."""
    return JsonlSink(config.path, format=config.format)
