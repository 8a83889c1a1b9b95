"""Calls into a sink, each guarded: whatever a sink raises becomes one ``SinkError``.

A sink may be the application's own (``ingest(config, sink=...)``), so it may raise anything;
the workflow names the call that failed (``write of <schema FQN>``, ``commit``, ``discard``)
and keeps the sink's exception as the ``__cause__``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from metaingest.errors import MetaingestError, SinkError
from metaingest.runner import describe

from .base import Sink

__all__ = ["discard", "sink_call", "sink_name"]

log = logging.getLogger("metaingest.workflow")


def sink_name(sink: Sink) -> str:
    """The sink's target path, else its class name."""
    path = getattr(sink, "path", None)
    return str(path) if path is not None else type(sink).__name__


async def sink_call(
    redact: Callable[[str], str], sink: Sink, what: str, call: Awaitable[None]
) -> None:
    """Await a sink's call; a foreign exception becomes one SinkError naming the call."""
    try:
        await call
    except MetaingestError:
        raise
    except Exception as exc:
        message = f"sink {sink_name(sink)}: {what} failed: {describe(exc, redact)}"
        raise SinkError(message) from exc


async def discard(redact: Callable[[str], str], sink: Sink, error: BaseException | None) -> None:
    """Close the sink without commit; its failure is the run's error only if there is none."""
    with anyio.CancelScope(shield=True):
        try:
            await sink_call(redact, sink, "discard", sink.aclose(commit=False))
        except MetaingestError as exc:
            if error is None:
                raise
            log.error("%s (while stopping after: %s)", exc, describe(error, redact))
