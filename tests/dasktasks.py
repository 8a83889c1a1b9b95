"""A task the Dask tests submit in place of metaingest's own; workers import it by name."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import anyio

from metaingest.executors.dask import run_task

__all__ = ["first_unit_waits", "gate"]


def gate(database: str) -> Path:
    """The file that lets a run's first unit go (one per test database)."""
    return Path(tempfile.gettempdir()) / f"{database}.gate"


async def first_unit_waits(spec: Any) -> Any:
    """The first unit submitted waits for its gate file before it even takes a lease; every
    other unit runs at once (``run_task``)."""
    if spec.unit_index == 0:
        path = gate(spec.unit.database.name)
        # another process writes it: there is no event to wait on
        while not path.exists():  # noqa: ASYNC110
            await anyio.sleep(0.02)
    return await run_task(spec)
