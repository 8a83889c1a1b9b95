"""README.md stays true: its config reference and its test command match the code and CI."""

from __future__ import annotations

import re
from pathlib import Path

from metaingest.reference import reference_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_config_reference_matches_the_models() -> None:
    match = re.search(
        r"<!-- config-reference:start -->\n(.*)<!-- config-reference:end -->", README, re.S
    )
    assert match, "config reference markers are missing"
    assert match.group(1) == reference_markdown(), (
        "README config reference is stale: paste `python -m metaingest schema --markdown`"
    )


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    test_command = blocks[1]
    assert "pytest" in test_command
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()
