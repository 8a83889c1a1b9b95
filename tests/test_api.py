"""The public Python API: exports, and use from inside a running event loop."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import metaingest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from build_demo import build


def test_all_is_sorted_and_exported() -> None:
    assert metaingest.__all__ == sorted(metaingest.__all__)
    for name in metaingest.__all__:
        assert getattr(metaingest, name).__doc__, name


@pytest.mark.anyio
async def test_ingest_and_stream_inside_a_running_loop(tmp_path: Path) -> None:
    build(tmp_path / "demo")
    doc = {
        "source": {
            "type": "sqlite",
            "path": str(tmp_path / "demo" / "shop.db"),
            "attach": {"people": str(tmp_path / "demo" / "people.db")},
            "threads": 2,
        },
        "sink": {"type": "jsonl", "path": str(tmp_path / "o.jsonl")},
    }
    config = metaingest.parse_config(doc)
    report = await metaingest.ingest(config)
    assert isinstance(report, metaingest.Report)
    assert report.ok
    assert report.tables == 6
    names = []
    async with metaingest.stream(config) as batches:
        async for batch in batches:
            assert isinstance(batch, metaingest.SchemaBatch)
            names.append(batch.schema.name)
    assert sorted(names) == ["main", "people"]


def test_native_connectors_do_not_import_sqlalchemy() -> None:
    """SQLAlchemy (~0.1 s and ~15 MB to import) is not needed by the asyncpg and aiomysql
    connectors (SQLite's borrows SQLAlchemy's identifier quoting)."""
    import subprocess
    import sys

    code = (
        "import sys, metaingest, metaingest.cli, metaingest.connectors.postgres,"
        " metaingest.connectors.mysql\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sqlalchemy'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout == "[]\n"
