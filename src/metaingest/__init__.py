"""metaingest: asyncio metadata ingestion, concurrent and bounded by ``threads`` connections.

Embed it::

    report = await metaingest.ingest(metaingest.load_config("workflow.yaml"))

or take the batches yourself, without a sink::

    async with metaingest.stream(config) as batches:
        async for batch in batches:
            ...

(``Workflow(config).stream()`` does the same and keeps the run's ``report``.) To watch a
run, pass an observer: ``await metaingest.ingest(config, observer=print)`` hands it a
``Progress`` snapshot on every change. To write somewhere of your own, pass any object that
follows the ``Sink`` protocol: ``await metaingest.ingest(config, sink=my_sink)``.

Each of ``ingest()``, ``Workflow.run()`` and ``stream()`` raises one exception of the
``MetaingestError`` tree, never an exception group.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from anyio.abc import ObjectReceiveStream

from metaingest.config import WorkflowConfig, load_config, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.entities import (
    Column,
    ConstraintType,
    Database,
    DatabaseSchema,
    DataType,
    Table,
    TableConstraint,
    TableType,
)
from metaingest.errors import (
    ConfigError,
    EmptyRunError,
    ExtractError,
    MetaingestError,
    MissingDependencyError,
    SinkError,
    SourceError,
)
from metaingest.observe import Progress, ProgressObserver
from metaingest.plan import DiscoveredDatabase, DiscoveredUnit
from metaingest.report import Issue, Report
from metaingest.routines import ProcedureType, StoredProcedure
from metaingest.sinks.base import Sink
from metaingest.workflow import Plan, Workflow, ingest

if TYPE_CHECKING:
    from metaingest.store import Store

__all__ = [
    "Column",
    "ConfigError",
    "ConstraintType",
    "DataType",
    "Database",
    "DatabaseSchema",
    "DiscoveredDatabase",
    "DiscoveredUnit",
    "EmptyRunError",
    "ExtractError",
    "Issue",
    "MetaingestError",
    "MissingDependencyError",
    "Plan",
    "ProcedureType",
    "Progress",
    "ProgressObserver",
    "Report",
    "SchemaBatch",
    "Sink",
    "SinkError",
    "SourceError",
    "StoredProcedure",
    "Table",
    "TableConstraint",
    "TableType",
    "Unit",
    "Workflow",
    "WorkflowConfig",
    "ingest",
    "load_config",
    "open_store",
    "parse_config",
    "stream",
]


@asynccontextmanager
async def stream(
    config: WorkflowConfig, *, observer: ProgressObserver | None = None
) -> AsyncIterator[ObjectReceiveStream[SchemaBatch]]:
    """Run a workflow without its sink and yield its batches as they complete."""
    async with Workflow(config, observer=observer).stream() as batches:
        yield batches


async def open_store(url: str) -> Store:
    """Open a catalog store for reading: ``async with await open_store(url) as store``."""
    from metaingest.store import open_store as open_

    return await open_(url)
