"""The runner's contracts, on the real SQLite connector wrapped to observe and perturb it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from metaingest.config import WorkflowConfig, parse_config
from metaingest.connectors.base import SchemaBatch, Unit
from metaingest.connectors.sqlite import SqliteConnector
from metaingest.errors import SourceError
from metaingest.redact import Redactor
from metaingest.workflow import Workflow

pytestmark = pytest.mark.anyio


def _catalog(root: Path, schemas: int) -> WorkflowConfig:
    attach = {}
    for s in range(schemas):
        path = root / f"s{s:02d}.db"
        with sqlite3.connect(path) as conn:
            conn.executescript("CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (x TEXT);")
        conn.close()
        attach[f"s{s:02d}"] = str(path)
    main = root / "main.db"
    sqlite3.connect(main).close()
    return parse_config(
        {
            "source": {
                "type": "sqlite",
                "service_name": "svc",
                "path": str(main),
                "attach": attach,
            },
            "sink": {"type": "jsonl", "path": str(root / "out.jsonl")},
        }
    )


class Observed(SqliteConnector):
    """The SQLite connector, with a hook run inside every extract and in-flight counting."""

    def __init__(self, config: WorkflowConfig, hook: Callable[[Unit], Any] | None = None) -> None:
        assert config.source.type == "sqlite"
        super().__init__(config.source)
        self.hook = hook
        self.in_flight = 0
        self.max_in_flight = 0
        self.extracted = 0

    async def extract(self, unit: Unit, connection: sqlite3.Connection) -> SchemaBatch:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.hook is not None:
                await self.hook(unit)
            batch = await super().extract(unit, connection)
            self.extracted += 1
            return batch
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize("threads", [1, 3])
async def test_at_most_threads_units_run_at_once(tmp_path: Path, threads: int) -> None:
    config = _catalog(tmp_path, 10).with_threads(threads)

    async def slow(_unit: Unit) -> None:
        await anyio.sleep(0.02)

    connector = Observed(config, slow)
    report = await Workflow(config, connector=connector).run()
    assert report.ok
    assert report.units_ok == 11
    assert connector.max_in_flight == threads  # reached, never exceeded
    assert report.peak_connections <= threads


async def test_a_failing_unit_is_isolated_and_reported(tmp_path: Path) -> None:
    base = _catalog(tmp_path, 4).model_dump(mode="python")

    async def fail_s02(unit: Unit) -> None:
        if unit.schema.name == "s02":
            raise RuntimeError("boom in s02")

    for threshold, code in ((100, 1), (75, 0)):
        base["workflow"] = {"success_threshold": threshold}
        config = parse_config(base).with_threads(2)
        report = await Workflow(config, connector=Observed(config, fail_s02)).run()
        assert report.units_failed == 1
        assert report.units_ok == 4
        assert report.success_pct == 80.0
        assert [(i.level, i.fqn, i.message) for i in report.issues] == [
            ("error", "svc.main.s02", "RuntimeError: boom in s02")
        ]
        assert report.exit_code() == code
        out = tmp_path / "out.jsonl"
        if code != 0:  # below the threshold: nothing is published
            assert not out.exists()
            assert not report.published
            continue
        assert report.published
        text = out.read_text(encoding="utf-8")
        assert "svc.main.s01" in text
        assert "svc.main.s03" in text
        assert "svc.main.s02" not in text


async def test_backpressure_bounds_batches_in_memory(tmp_path: Path) -> None:
    config = _catalog(tmp_path, 10).with_threads(2)
    connector = Observed(config)
    workflow = Workflow(config, connector=connector)
    ahead = []
    consumed = 0
    async with workflow.stream() as batches:
        async for _batch in batches:
            consumed += 1
            await anyio.sleep(0.01)  # a slow consumer
            ahead.append(connector.extracted - consumed)
    assert consumed == 11
    # at most: the stream's buffer (threads) + one batch waiting in each running unit
    assert 1 <= max(ahead) <= 2 * 2


async def test_cancellation_returns_connections_and_writes_nothing(tmp_path: Path) -> None:
    config = _catalog(tmp_path, 8).with_threads(3)
    started = anyio.Event()

    async def hang(unit: Unit) -> None:
        if unit.schema.name == "s05":
            started.set()
            await anyio.sleep(60)

    connector = Observed(config, hang)
    workflow = Workflow(config, connector=connector)
    with anyio.move_on_after(5) as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(workflow.run)
            await started.wait()
            tg.cancel_scope.cancel()
    assert not scope.cancelled_caught  # cancelled by us, promptly, not by the 5 s guard
    assert workflow.report.cancelled
    assert workflow.report.exit_code() == 130
    assert connector._pool.statistics().open == 0
    assert not (tmp_path / "out.jsonl").exists()
    assert list(tmp_path.glob(".out.jsonl*")) == []


async def test_leaving_the_stream_early_stops_the_units(tmp_path: Path) -> None:
    config = _catalog(tmp_path, 10).with_threads(2)
    connector = Observed(config)
    workflow = Workflow(config, connector=connector)
    async with workflow.stream() as batches:
        async for _batch in batches:
            break
    assert workflow.report.cancelled
    assert connector.extracted < 11
    assert connector._pool.statistics().open == 0


async def test_units_run_in_a_fixed_order_and_schemas_sorted(tmp_path: Path) -> None:
    config = _catalog(tmp_path, 5)
    order: list[str] = []

    async def record(unit: Unit) -> None:
        order.append(unit.schema.name)

    await Workflow(config, connector=Observed(config, record)).run()
    assert order == ["main", "s00", "s01", "s02", "s03", "s04"]


def _with_workflow(config: WorkflowConfig, **settings: Any) -> WorkflowConfig:
    data = config.model_dump(mode="python")
    data["workflow"] = {**data.get("workflow", {}), "retry_backoff": 0.01, **settings}
    return parse_config(data)


async def test_transient_errors_are_retried_on_a_fresh_connection(tmp_path: Path) -> None:
    config = _with_workflow(_catalog(tmp_path, 4).with_threads(2))
    clean = await Workflow(config).run()
    expected = (tmp_path / "out.jsonl").read_bytes()
    failures = {"s01": 2, "s03": 1}
    connections: dict[str, list[sqlite3.Connection]] = {"s01": [], "s03": []}

    class Flaky(Observed):
        async def extract(self, unit: Unit, connection: sqlite3.Connection) -> SchemaBatch:
            name = unit.schema.name
            if name in failures:
                connections[name].append(connection)  # kept alive, so ids stay distinct
                if failures[name]:
                    failures[name] -= 1
                    raise ConnectionResetError(f"connection reset while reading {name}")
            return await super().extract(unit, connection)

    connector = Flaky(config)
    report = await Workflow(config, connector=connector).run()
    assert report.ok and report.errors == 0
    assert (tmp_path / "out.jsonl").read_bytes() == expected  # no losses, no duplicates
    attempts = {u.fqn: u.attempts for u in report.units}
    assert attempts["svc.main.s01"] == 3
    assert attempts["svc.main.s03"] == 2
    assert attempts["svc.main.s00"] == 1
    # each retry ran on a fresh connection: the failed one was closed, not pooled again
    assert len({id(c) for c in connections["s01"]}) == 3
    assert connector._pool.statistics().open == 0
    assert report.tables == clean.tables


async def test_a_unit_that_keeps_failing_gives_up_after_the_retries(tmp_path: Path) -> None:
    config = _with_workflow(_catalog(tmp_path, 3), retries=2)

    async def always(unit: Unit) -> None:
        if unit.schema.name == "s02":
            raise ConnectionResetError("reset")

    report = await Workflow(config, connector=Observed(config, always)).run()
    assert report.units_failed == 1
    assert [(i.fqn, i.message) for i in report.issues] == [
        ("svc.main.s02", "ConnectionResetError: reset (gave up after 3 attempts)")
    ]
    assert report.exit_code() == 1


async def test_other_errors_are_not_retried(tmp_path: Path) -> None:
    config = _with_workflow(_catalog(tmp_path, 2))
    calls = []

    async def broken(unit: Unit) -> None:
        if unit.schema.name == "s00":
            calls.append(1)
            raise ValueError("bad catalog row")

    report = await Workflow(config, connector=Observed(config, broken)).run()
    assert len(calls) == 1
    assert report.issues[0].message == "ValueError: bad catalog row"


async def test_a_fatal_error_stops_the_run_and_writes_nothing(tmp_path: Path) -> None:
    config = _with_workflow(_catalog(tmp_path, 8).with_threads(2))
    seen: list[str] = []

    async def revoked(unit: Unit) -> None:
        seen.append(unit.schema.name)
        if unit.schema.name == "s01":
            raise SourceError("PostgreSQL at h:5432, database 'd': password authentication failed")
        await anyio.sleep(0.05)

    connector = Observed(config, revoked)
    with pytest.raises(SourceError, match="password authentication failed"):
        await Workflow(config, connector=connector).run()
    assert "s07" not in seen  # scheduling stopped
    assert connector._pool.statistics().open == 0
    assert not (tmp_path / "out.jsonl").exists()


async def test_a_hung_unit_times_out_and_is_retried(tmp_path: Path) -> None:
    config = _with_workflow(_catalog(tmp_path, 3).model_copy(deep=True))
    data = config.model_dump(mode="python")
    data["source"]["unit_timeout"] = 0.3
    config = parse_config(data)
    hung = {"s01": 1}

    async def hang_once(unit: Unit) -> None:
        if hung.get(unit.schema.name):
            hung[unit.schema.name] -= 1
            await anyio.sleep(3600)

    with anyio.fail_after(10):  # the run ends in bounded time
        report = await Workflow(config, connector=Observed(config, hang_once)).run()
    assert report.ok
    assert {u.fqn: u.attempts for u in report.units}["svc.main.s01"] == 2


async def test_a_unit_that_always_hangs_is_a_recorded_timeout(tmp_path: Path) -> None:
    data = _with_workflow(_catalog(tmp_path, 2), retries=1).model_dump(mode="python")
    data["source"]["unit_timeout"] = 0.2
    config = parse_config(data)

    async def hang(unit: Unit) -> None:
        if unit.schema.name == "s00":
            await anyio.sleep(3600)

    with anyio.fail_after(10):
        report = await Workflow(config, connector=Observed(config, hang)).run()
    assert [(i.fqn, i.message) for i in report.issues] == [
        ("svc.main.s00", "timed out after 0.2 s (gave up after 2 attempts)")
    ]
    assert report.units_ok == 2


async def test_strict_turns_warnings_into_failure(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            "CREATE TABLE t (x INT); CREATE VIEW v AS SELECT x FROM t; DROP TABLE t;"
        )
    conn.close()
    doc = {
        "source": {"type": "sqlite", "path": str(db)},
        "sink": {"type": "jsonl", "path": str(tmp_path / "o.jsonl")},
    }
    relaxed = await Workflow(parse_config(doc)).run()
    assert (relaxed.warnings, relaxed.exit_code()) == (1, 0)
    strict = await Workflow(parse_config(doc).with_strict()).run()
    assert (strict.warnings, strict.exit_code()) == (1, 1)


async def test_secrets_never_reach_the_report(tmp_path: Path) -> None:
    data = _catalog(tmp_path, 1).model_dump(mode="python")
    config = parse_config(data)
    workflow = Workflow(config)
    workflow.redact = Redactor(["hunter2"])

    async def leak(unit: Unit) -> None:
        raise RuntimeError("login as bob:hunter2 failed for postgresql://bob:hunter2@db:5432/x")

    workflow.connector = Observed(config, leak)
    report = await workflow.run()
    text = report.model_dump_json()
    assert "hunter2" not in text
    assert "postgresql://bob:***@db:5432/x" in text
