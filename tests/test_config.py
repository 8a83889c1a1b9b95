"""Workflow file validation: good files load, bad ones give one line naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from metaingest.config import PostgresSource, SqliteSource, load_config, parse_config
from metaingest.errors import ConfigError


def _doc(**source: Any) -> dict[str, Any]:
    base = {"type": "sqlite", "path": "x.db"}
    return {"source": {**base, **source}, "sink": {"type": "jsonl", "path": "out.jsonl"}}


def test_defaults() -> None:
    config = parse_config(_doc())
    assert isinstance(config.source, SqliteSource)
    assert config.source.threads == 1
    assert config.source.include_views and config.source.include_tables
    assert config.source.service_name == "sqlite"
    assert config.workflow.success_threshold == 100


def test_env_interpolation() -> None:
    doc = {
        "source": {"type": "postgres", "password": "${PW}", "host": "${HOST:-db.local}"},
        "sink": {"type": "jsonl", "path": "${OUT}/x.jsonl"},
    }
    config = parse_config(doc, env={"PW": "s3cret", "OUT": "/tmp/o"})
    assert isinstance(config.source, PostgresSource)
    assert config.source.password is not None
    assert config.source.password.get_secret_value() == "s3cret"
    assert config.source.host == "db.local"
    assert str(config.sink.path) == "/tmp/o/x.jsonl"
    assert "s3cret" not in repr(config)
    with pytest.raises(
        ConfigError, match=r"^source\.password: environment variable PW is not set$"
    ):
        parse_config(doc, env={"OUT": "/tmp"})


def test_postgres_url_is_split_and_secret() -> None:
    doc = {
        "source": {"type": "postgres", "url": "postgresql://u:p%40ss@h.example:6543/app"},
        "sink": {"type": "jsonl", "path": "o.jsonl"},
    }
    source = parse_config(doc).source
    assert isinstance(source, PostgresSource)
    assert (source.host, source.port, source.username, source.database) == (
        "h.example",
        6543,
        "u",
        "app",
    )
    assert source.password is not None and source.password.get_secret_value() == "p@ss"
    assert "p@ss" not in repr(source)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_doc(threads=0), "source.threads: must be >= 1"),
        (_doc(threads=-3), "source.threads: must be >= 1"),
        (_doc(colour="blue"), "source.colour: unknown key"),
        (
            {"source": {"type": "sqlite"}, "sink": {"type": "jsonl", "path": "o"}},
            "source.path: required key is missing",
        ),
        (
            _doc(schema_filter={"includes": ["ok", "a("]}),
            "source.schema_filter.includes[1]: invalid regex 'a(': "
            "missing ), unterminated subpattern at position 1",
        ),
        (
            {"source": {"type": "oracle"}, "sink": {"type": "jsonl", "path": "o"}},
            "source: unknown type 'oracle' (expected one of 'postgres', 'mysql', 'mariadb',"
            " 'sqlite', 'sqlalchemy')",
        ),
        ({"source": {"path": "x"}, "sink": {"type": "jsonl", "path": "o"}}, "source.type:"),
        ({"sink": {"type": "jsonl", "path": "o"}}, "source: required key is missing"),
        (
            {**_doc(), "workflow": {"success_threshold": 120}},
            "workflow.success_threshold: must be <= 100",
        ),
        (
            {"source": {"type": "postgres", "port": 0}, "sink": {"type": "jsonl", "path": "o"}},
            "source.port: must be >= 1",
        ),
        (
            {
                "source": {"type": "postgres", "database": "a", "databases": ["b"]},
                "sink": {"type": "jsonl", "path": "o"},
            },
            "source: give either database or databases, not both",
        ),
        (
            {
                "source": {"type": "postgres"},
                "sink": {"type": "metadata-rest", "host_port": "h", "lineage_only": True},
            },
            "source.include_lineage: false leaves sink.lineage_only nothing to send",
        ),
        (
            {
                "source": {"type": "postgres", "include_lineage": True, "include_views": False},
                "sink": {"type": "metadata-rest", "host_port": "h", "lineage_only": True},
            },
            "source.include_views: false leaves sink.lineage_only nothing to send",
        ),
        (
            {
                "sources": [
                    {"type": "postgres", "include_lineage": True},
                    {"type": "mysql"},
                ],
                "sink": {"type": "metadata-rest", "host_port": "h", "lineage_only": True},
            },
            "sources[1].include_lineage: false leaves sink.lineage_only nothing to send",
        ),
    ],
)
def test_bad_documents(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(doc)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_load_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no such file$"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"not valid YAML at line"):
        load_config(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("42\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(scalar)


def test_with_threads_revalidates_and_keeps_secrets() -> None:
    doc = {
        "source": {"type": "postgres", "password": "pw", "threads": 2},
        "sink": {"type": "jsonl", "path": "o"},
    }
    config = parse_config(doc).with_threads(8)
    assert isinstance(config.source, PostgresSource)
    assert config.source.threads == 8
    assert config.source.password is not None
    assert config.source.password.get_secret_value() == "pw"
    with pytest.raises(ConfigError, match=r"source\.threads: must be >= 1"):
        config.with_threads(0)
