"""The Sink protocol: ``write(batch)`` for each schema, then ``aclose(commit=...)`` once.

Sinks are called from one task only, so they need no locks. ``aclose(commit=True)`` makes
the output visible (atomically where the medium allows); ``aclose(commit=False)`` — the
default, used on failure and cancellation — leaves nothing behind. ``aclose`` is idempotent.
"""

from __future__ import annotations

from typing import Protocol

from metaingest.connectors.base import SchemaBatch

__all__ = ["Sink"]


class Sink(Protocol):
    """Receives schema batches and publishes them when the run completes."""

    async def write(self, batch: SchemaBatch) -> None:
        """Take one schema's batch."""
        ...

    async def aclose(self, *, commit: bool = False) -> None:
        """Publish what was written (commit) or discard it; safe to call more than once."""
        ...
