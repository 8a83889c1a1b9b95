"""The JSONL sink: deterministic order, atomic publication, nothing left on failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metaingest.connectors.base import SchemaBatch
from metaingest.entities import Column, Database, DatabaseSchema, DataType, Table
from metaingest.errors import SinkError
from metaingest.sinks.jsonl import JsonlSink

pytestmark = pytest.mark.anyio


def _batch(db: str, schema: str, *tables: str) -> SchemaBatch:
    database = Database(name=db, service="svc")
    sch = DatabaseSchema(name=schema, database=database.fqn)
    column = Column(name="id", ordinal_position=1, data_type=DataType.INT, data_type_display="int")
    return SchemaBatch(
        database,
        sch,
        tuple(Table(name=t, database_schema=sch.fqn, columns=(column,)) for t in tables),
    )


async def test_order_is_independent_of_arrival(tmp_path: Path) -> None:
    batches = [
        _batch("d2", "a", "t"),
        _batch("d1", "b", "z", "y"),
        _batch("d1", "a.x", "t"),
        _batch("d1", "a", "k"),
    ]
    files = []
    for order in (batches, batches[::-1]):
        out = tmp_path / f"o{len(files)}.jsonl"
        sink = JsonlSink(out)
        for batch in order:
            await sink.write(batch)
        await sink.aclose(commit=True)
        files.append(out.read_bytes())
    assert files[0] == files[1]
    fqns = [json.loads(line)["fqn"] for line in files[0].decode().splitlines()]
    assert fqns == [
        "svc.d1",
        "svc.d1.a",
        "svc.d1.a.k",
        'svc.d1."a.x"',
        'svc.d1."a.x".t',
        "svc.d1.b",
        "svc.d1.b.y",
        "svc.d1.b.z",
        "svc.d2",
        "svc.d2.a",
        "svc.d2.a.t",
    ]


async def test_discard_leaves_nothing_and_keeps_an_old_file(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("previous run\n", encoding="utf-8")
    sink = JsonlSink(out)
    await sink.write(_batch("d", "s", "t"))
    await sink.aclose()  # no commit: a failed or cancelled run
    await sink.aclose(commit=True)  # idempotent: the first close decided
    assert out.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]
    with pytest.raises(SinkError, match="sink is closed"):
        await sink.write(_batch("d", "s", "t"))


async def test_commit_creates_parents_and_replaces(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "er" / "out.jsonl"
    sink = JsonlSink(out, format="openmetadata")
    await sink.write(_batch("d", "s", "t"))
    await sink.aclose(commit=True)
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [line["kind"] for line in lines] == ["database", "databaseSchema", "table"]
    assert lines[2]["request"]["databaseSchema"] == "svc.d.s"
    assert lines[2]["request"]["columns"][0]["dataType"] == "INT"
    assert oct(out.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.jsonl"]


async def test_unwritable_target_is_a_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    sink = JsonlSink(blocker / "out.jsonl")
    await sink.write(_batch("d", "s", "t"))
    with pytest.raises(SinkError, match="cannot write"):
        await sink.aclose(commit=True)


@pytest.mark.parametrize("commit", [True, False])
async def test_spool_flushes_keep_order_and_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, commit: bool
) -> None:
    """With a flush after every batch, the spool file is used, read back in order, and removed."""
    import tempfile

    import metaingest.sinks.jsonl as jsonl

    spool_dir = tmp_path / "tmp"
    spool_dir.mkdir()
    batches = [_batch("d", f"s{i}", "b", "a") for i in (3, 1, 2)]
    expected = tmp_path / "expected.jsonl"
    sink = JsonlSink(expected)  # default threshold: everything stays in memory
    for batch in batches:
        await sink.write(batch)
    await sink.aclose(commit=True)

    monkeypatch.setattr(tempfile, "tempdir", str(spool_dir))
    monkeypatch.setattr(jsonl, "_FLUSH_BYTES", 1)
    out = tmp_path / "out.jsonl"
    sink = JsonlSink(out)
    for batch in batches:
        await sink.write(batch)
        assert not sink._buffer  # flushed to the spool file
    assert [p.name.startswith("metaingest-spool-") for p in spool_dir.iterdir()] == [True]
    await sink.aclose(commit=commit)
    assert list(spool_dir.iterdir()) == []
    if commit:
        assert out.read_bytes() == expected.read_bytes()
    else:
        assert not out.exists()


async def test_a_spool_that_cannot_be_written_is_one_sink_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    import metaingest.sinks.jsonl as jsonl

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    monkeypatch.setattr(jsonl, "_FLUSH_BYTES", 1)
    sink = JsonlSink(tmp_path / "out.jsonl")
    with pytest.raises(SinkError, match=r"out\.jsonl: cannot spool to .*missing: No such file"):
        await sink.write(_batch("d", "s", "t"))
    await sink.aclose()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
