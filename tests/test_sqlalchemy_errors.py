"""Errors of the generic SQLAlchemy connector: one line, the extra named, no password."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from metaingest.errors import ConfigError, MissingDependencyError, SourceError
from metaingest.workflow import Workflow
from tests.test_sqlalchemy import make_config


def test_unknown_dialect_is_one_line_without_password(tmp_path: Path) -> None:
    config = make_config("nosuchdb://scott:s3cret@db.example/x", tmp_path)
    with pytest.raises(ConfigError) as caught:
        Workflow(config)
    message = str(caught.value)
    assert "unknown SQLAlchemy dialect 'nosuchdb'" in message
    assert "s3cret" not in message and "***" in message
    assert "\n" not in message


def test_invalid_url_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^source\.url: not a valid SQLAlchemy URL$"):
        Workflow(make_config("not a url at all", tmp_path))


def test_missing_duckdb_engine_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb_engine", None)
    with pytest.raises(MissingDependencyError) as caught:
        Workflow(make_config(f"duckdb:///{tmp_path / 'x.duckdb'}", tmp_path))
    assert (caught.value.module, caught.value.extra) == ("duckdb_engine", "duckdb")
    assert "pip install 'metaingest[duckdb]'" in str(caught.value)


def test_missing_async_driver_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    config = make_config("postgresql+asyncpg://u:s3cret@127.0.0.1/db", tmp_path)
    with pytest.raises(MissingDependencyError) as caught:
        Workflow(config)
    assert (caught.value.module, caught.value.extra) == ("asyncpg", "postgres")
    assert "s3cret" not in str(caught.value)


def test_driver_without_an_extra_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)
    config = make_config("postgresql+psycopg2://u:s3cret@127.0.0.1/db", tmp_path)
    with pytest.raises(ConfigError) as caught:
        Workflow(config)
    message = str(caught.value)
    assert "'psycopg2' driver" in message and "s3cret" not in message and "\n" not in message


@pytest.mark.anyio
async def test_unreachable_server_hides_the_password(tmp_path: Path) -> None:
    config = make_config("postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/nowhere", tmp_path)
    with pytest.raises(SourceError) as caught:
        await Workflow(config).run()
    message = str(caught.value)
    assert "s3cret" not in message and "postgres:***@127.0.0.1:1/nowhere" in message
    assert "\n" not in message
    assert not (tmp_path / "out.jsonl").exists()
