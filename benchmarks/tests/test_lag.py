"""The lag benchmark's specs are valid workflow configs, one per sink and subject."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.catalog import CatalogSize
from benchmarks.lag import SINKS, _spec
from metaingest.config import parse_config

SUBJECTS = [f"ingest:{name}" for name in SINKS] + ["stream"]


@pytest.mark.parametrize("engine", ["postgres", "mariadb"])
@pytest.mark.parametrize("subject", SUBJECTS)
def test_every_subject_is_a_valid_config(engine: str, subject: str, tmp_path: Path) -> None:
    spec = _spec(engine, CatalogSize(2, 100, 12), subject, 4, tmp_path)
    config = parse_config(spec["config"])
    assert spec["mode"] == subject.split(":", 1)[0]
    assert config.source.threads == 4
    assert config.sink.type == spec["config"]["sink"]["type"]
