"""Choosing the executor and turning it into the per-unit callable the runner awaits."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from itertools import count
from typing import TYPE_CHECKING, Any

from metaingest.connectors.base import Unit

from .settings import DaskExecutorConfig, LocalExecutorConfig
from .spec import UnitOutcome, UnitSpec

if TYPE_CHECKING:
    from .dask import DaskExecutor

__all__ = ["new_run_id", "open_executor", "unit_runner"]


def new_run_id() -> str:
    """A fresh run id for task keys and semaphore names (random, not derived from config)."""
    return uuid.uuid4().hex[:12]


@asynccontextmanager
async def open_executor(
    config: LocalExecutorConfig | DaskExecutorConfig, client: Any = None
) -> AsyncIterator[DaskExecutor | None]:
    """None for the local executor; an open ``DaskExecutor`` (closed on exit) for ``dask``."""
    if isinstance(config, LocalExecutorConfig) and client is None:
        yield None
        return
    from .dask import DaskExecutor

    dask_config = (
        config if isinstance(config, DaskExecutorConfig) else DaskExecutorConfig(type="dask")
    )
    async with DaskExecutor(dask_config, client) as executor:
        yield executor


async def unit_runner(
    executor: DaskExecutor,
    source: Any,
    *,
    retries: int,
    retry_backoff: float,
    run_id: str,
    source_index: int,
) -> Callable[[Unit], Awaitable[UnitOutcome]]:
    """The callable a runner awaits per unit of ``source``: one task per unit on the cluster."""
    numbers = count()
    template = executor.prepare(
        UnitSpec(
            source=source,
            unit=None,  # type: ignore[arg-type]  # replaced per unit below
            retries=retries,
            retry_backoff=retry_backoff,
            unit_timeout=source.unit_timeout,
            run_id=run_id,
            source_index=source_index,
            unit_index=0,
            max_connections=source.threads,
        )
    )
    await executor.add_source(template.semaphore, source.threads)

    async def run(unit: Unit) -> UnitOutcome:
        import dataclasses

        spec = dataclasses.replace(template, unit=unit, unit_index=next(numbers))
        return await executor.extract(spec)

    return run
