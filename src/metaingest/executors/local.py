"""Units in this process: the runner's own path, and one spec extracted on its own.

The default executor is no executor: the workflow's ``Runner`` opens a connection per unit,
extracts and retries in this process, exactly as it always did. ``extract_unit`` is the same
path for a single ``UnitSpec`` — its own connector, its own one-slot runner — and is what a
Dask worker runs, so a unit is extracted, retried and timed out the same way everywhere.
"""

from __future__ import annotations

from typing import Any

import anyio

from metaingest.connectors import SchemaBatch, create_connector
from metaingest.errors import SourceError
from metaingest.redact import Redactor, secrets_of
from metaingest.report import Report
from metaingest.runner import Runner, describe

from .spec import UnitOutcome, UnitSpec

__all__ = ["extract_unit"]


async def extract_unit(spec: UnitSpec, connector: Any = None) -> UnitOutcome:
    """Extract one unit in this process (connect, extract, retry); no other side effects."""
    connector = connector or create_connector(spec.source)
    redact = Redactor(secrets_of(spec.source))
    report = Report()
    runner = Runner(
        connector,
        1,
        report,
        retries=spec.retries,
        retry_backoff=spec.retry_backoff,
        unit_timeout=spec.unit_timeout,
        redact=redact,
    )
    batches: list[SchemaBatch] = []
    send, receive = anyio.create_memory_object_stream[SchemaBatch](1)
    async with connector, anyio.create_task_group() as tg:
        tg.start_soon(runner.run, [spec.unit], send)
        async with receive:
            async for batch in receive:
                batches.append(batch)
    attempts = report.units[0].attempts if report.units else 1
    fatal = runner.fatal
    return UnitOutcome(
        batch=batches[0] if batches else None,
        attempts=attempts,
        issues=tuple(report.issues),
        fatal=None if fatal is None else (redact(str(fatal)) or describe(fatal, redact)),
        fatal_is_source=isinstance(fatal, SourceError),
    )
