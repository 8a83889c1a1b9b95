"""The library's edge: ``stream()``, ``Workflow.run()`` and ``ingest()`` raise one exception of
the metaingest.errors tree, never an exception group (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import metaingest
from metaingest.boundary import pick
from metaingest.summary import rich_summary
from metaingest.workflow import Workflow

from .conftest import PgServer
from .faultkit import Hooked, config_of

pytestmark = pytest.mark.anyio


async def _fatal(unit: Any, connection: Any, attempt: int) -> None:
    # what the driver says when the role is dropped or its password changed mid-run
    raise metaingest.SourceError(f"{unit.fqn}: password authentication failed")


@pytest.mark.postgres
async def test_a_fatal_source_error_in_stream_is_one_source_error(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    config = config_of(postgres_server.source(pg_database), tmp_path / "o.jsonl")
    workflow = Workflow(config, connector=Hooked(config, _fatal))

    async def drain() -> None:
        async with workflow.stream() as batches:
            async for _batch in batches:
                pass

    with pytest.raises(metaingest.SourceError, match="password authentication failed"):
        await drain()
    config = config_of(postgres_server.source(pg_database), tmp_path / "o.jsonl")
    with pytest.raises(metaingest.SourceError):
        await Workflow(config, connector=Hooked(config, _fatal)).run()
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.postgres
async def test_the_callers_own_exception_comes_out_as_it_is(
    postgres_server: PgServer, pg_database: str, tmp_path: Path
) -> None:
    config = config_of(postgres_server.source(pg_database), tmp_path / "o.jsonl")

    class Mine(Exception):
        pass

    async def consume() -> None:
        async with metaingest.stream(config) as batches:
            async for _batch in batches:
                raise Mine("the application's own error")

    with pytest.raises(Mine):
        await consume()


def test_pick_prefers_metaingest_errors_and_names_foreign_ones() -> None:
    sink = metaingest.SinkError("o.jsonl: cannot write: File too large")
    group = BaseExceptionGroup("tasks", [ValueError("x"), ExceptionGroup("inner", [sink])])
    assert pick(group) is sink
    foreign = pick(ExceptionGroup("tasks", [KeyError("k")]))
    assert isinstance(foreign, metaingest.MetaingestError)
    assert str(foreign) == "unexpected KeyError: 'k'"
    assert isinstance(foreign.__cause__, KeyError)


def test_the_rich_summary_says_what_was_not_published() -> None:
    report = metaingest.Report(units_total=2, units_ok=1, units_failed=1, discovery_done=True)
    report.add_issue("error", "pg.db.s1", "ValueError: s1 cannot be read")
    console = Console(record=True, width=200, force_terminal=True)
    rich_summary(report, console, None, "out.jsonl")
    text = console.export_text()
    assert "FAILED" in text
    assert "error: pg.db.s1: ValueError: s1 cannot be read" in text
    assert (
        "nothing was published (success 50.0 % is below workflow.success_threshold 100 % "
        "(1 of 2 schema(s) failed)): out.jsonl keeps its previous content"
    ) in text
