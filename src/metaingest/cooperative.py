"""Time-sliced cooperation with the event loop, for CPU work that runs on the loop's thread.

Building a large schema's entities, or serializing them, is pure Python that would hold the
loop for as long as it takes: an application embedding metaingest would see its own tasks
(health checks, requests) stall for that long. ``checkpoint()`` is called once per item of
such work (a table, a chunk of rows); it costs a clock read while the current time slice
lasts, and yields to the loop (``anyio.lowlevel.checkpoint``, which also delivers a pending
cancellation) once the slice is used up.

The slice is shared by every task on the thread: it starts when a task comes back from
yielding here, and a task that resumes from other I/O finds it used up and yields at its
first checkpoint, so tasks taking turns cannot each hold the loop for a whole slice.

Freeing is work too: dropping the last reference to a large schema's rows or entities frees
every object in one go (~100 ms for 10,000 tables). ``release()`` empties such a list a
chunk at a time instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, TypeVar

import anyio.lowlevel

__all__ = ["SLICE_SECONDS", "checkpoint", "chunks", "release"]

T = TypeVar("T")

# How long work may keep the loop before it yields. A yield costs a pass of the loop (3.5 us
# measured with no other task ready), well under 1 % of the 5 ms of work it interrupts.
SLICE_SECONDS = 0.005

_clock = time.perf_counter


class _Slice(threading.local):
    """When the current slice of this thread's loop ends (one event loop per thread)."""

    deadline = 0.0


_slice = _Slice()


async def checkpoint() -> None:
    """Yield to the event loop if the current time slice is used up; else return at once."""
    if _clock() >= _slice.deadline:
        await anyio.lowlevel.checkpoint()
        _slice.deadline = _clock() + SLICE_SECONDS


async def chunks(items: Sequence[T], size: int = 1024) -> AsyncIterator[Sequence[T]]:
    """``items`` in slices of ``size``, with a ``checkpoint()`` before each: for loops whose
    per-item work is too small to pay for a call per item (grouping rows, say)."""
    for start in range(0, len(items), size):
        await checkpoint()
        yield items[start : start + size]


async def release(items: list[Any], size: int = 16) -> None:
    """Empty ``items`` from the end, ``size`` at a time, with a ``checkpoint()`` between: what
    only this list referenced is freed a chunk at a time instead of all at once."""
    while items:
        del items[-size:]
        await checkpoint()
