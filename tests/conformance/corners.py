"""Helpers of the engine-corner tests: run a source, index its tables by name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from metaingest.config import parse_config
from metaingest.entities import Table
from metaingest.report import Report
from metaingest.workflow import Workflow
from tests.openmetadata import validation_errors

__all__ = ["extract", "run_to_file"]


async def extract(source: dict[str, Any]) -> dict[str, Table]:
    """Every table of one clean run by ``schema.table`` (the schema's own name)."""
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": "unused.jsonl"}})
    workflow = Workflow(config)
    async with workflow.stream() as batches:
        tables = {f"{b.schema.name}.{t.name}": t async for b in batches for t in b.tables}
    assert workflow.report.issues == [], workflow.report.issues
    for table in tables.values():
        assert validation_errors("table", table.to_openmetadata()) == [], table.fqn
    return tables


async def run_to_file(source: dict[str, Any], out: Path, **sink: Any) -> Report:
    """One run of ``source`` into the JSONL file ``out``."""
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": str(out), **sink}})
    return await Workflow(config).run()
