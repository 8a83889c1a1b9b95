"""Time-sliced cooperation with the event loop, for CPU work that runs on the loop's thread.

Building a large schema's entities, or serializing them, is pure Python that would hold the
loop for as long as it takes: an application embedding metaingest would see its own tasks
(health checks, requests) stall for that long. ``checkpoint()`` is called once per item of
such work (a table, a chunk of rows); it costs a clock read while the current time slice
lasts, and yields to the loop (``anyio.lowlevel.checkpoint``, which also delivers a pending
cancellation) once the slice is used up.

The slice is shared by every task on the thread, and the loop runs at most one slice per
turn: a task whose slice is used up yields until the loop has run, after the slice, the
callbacks that became ready during it (I/O, timers: the application's own tasks waking up),
and only then does the next slice begin, for it or for another task that waited. Without
that, every task coming back from a yield in the same turn of the loop would start a slice of
its own, and an application's task would wait for all of them (two units building and a sink
serializing: three slices). A task that resumes from other I/O finds the slice used up and
yields at its first checkpoint. Tasks waiting for a slice take turns, first come first served.

Freeing is work too: dropping the last reference to a large schema's rows or entities frees
every object in one go (~100 ms for 10,000 tables). ``release()`` empties such a list a
chunk at a time instead.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import operator
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

import anyio.lowlevel

__all__ = ["SLICE_SECONDS", "checkpoint", "chunks", "release", "sort"]

T = TypeVar("T")

# How long work may keep the loop before it yields. A yield costs a pass of the loop (3.5 us
# measured with no other task ready), well under 1 % of the 5 ms of work it interrupts.
SLICE_SECONDS = 0.005

_clock = time.perf_counter


class _Slice(threading.local):
    """The slices of this thread's loop (one event loop per thread)."""

    loop: asyncio.AbstractEventLoop | None = None
    deadline = 0.0  # when the current slice ends
    turned = False  # the loop has run a turn since the last slice began
    pending = False  # a callback that marks the turn is scheduled
    tickets = 0  # tickets handed out to tasks waiting for a slice
    queue: list[int]  # the waiting tasks' tickets, first come first

    def __init__(self) -> None:
        self.queue = []


_slice = _Slice()


def _turn() -> None:
    _slice.turned = True
    _slice.pending = False


async def checkpoint() -> None:
    """Yield to the event loop if the current time slice is used up; else return at once."""
    if _clock() < _slice.deadline:
        return
    state = _slice
    loop = asyncio.get_running_loop()
    if state.loop is not loop:  # a new loop on this thread: nothing of the old one counts
        state.loop, state.turned, state.pending, state.queue = loop, False, False, []
    state.tickets += 1
    ticket = state.tickets
    state.queue.append(ticket)
    try:
        while True:
            if not state.pending:
                # a timer due at once: the loop runs it with the next turn's timers, after
                # that turn's I/O callbacks and any timer that fell due during the slice
                state.pending = True
                loop.call_later(0, _turn)
            await anyio.lowlevel.checkpoint()
            if state.turned and state.queue[0] == ticket:
                break
    finally:
        state.queue.remove(ticket)
    state.turned = False
    state.deadline = _clock() + SLICE_SECONDS


async def chunks(items: Sequence[T], size: int = 256) -> AsyncIterator[Sequence[T]]:
    """``items`` in slices of ``size``, with a ``checkpoint()`` before each: for loops whose
    per-item work is too small to pay for a call per item (grouping rows, say)."""
    for start in range(0, len(items), size):
        await checkpoint()
        yield items[start : start + size]


async def sort(items: Iterable[T], key: Callable[[T], Any], size: int = 1024) -> list[T]:
    """``sorted(items, key=key)``, in slices of ``size``: the keys are read a slice at a time
    (for 10,000 tables scattered in memory that alone takes ~8 ms on a loaded machine), input
    already in order is returned as it is, and otherwise runs of ``size`` are sorted, then
    merged, a slice at a time (one sort of 10,000 tables: ~6 ms; timsort's merge of sorted
    runs: as long)."""
    pending = list(items)
    keys: list[Any] = []
    ordered = True
    for start in range(0, len(pending), size):
        await checkpoint()
        since = max(0, len(keys) - 1)  # in order within the slice and after the previous one
        keys += map(key, pending[start : start + size])
        ordered = ordered and all(map(operator.le, keys[since:], keys[since + 1 :]))
    if ordered:
        return pending
    runs = []
    for start in range(0, len(pending), size):
        await checkpoint()
        runs.append(sorted(range(start, min(start + size, len(pending))), key=keys.__getitem__))
    merged = heapq.merge(*runs, key=keys.__getitem__)  # stable: ties keep the runs' order
    out: list[T] = []
    while chunk := list(itertools.islice(merged, size)):
        await checkpoint()
        out += map(pending.__getitem__, chunk)
    return out


async def release(items: list[Any], size: int = 16) -> None:
    """Empty ``items`` from the end, ``size`` at a time, with a ``checkpoint()`` between: what
    only this list referenced is freed a chunk at a time instead of all at once."""
    while items:
        del items[-size:]
        await checkpoint()
