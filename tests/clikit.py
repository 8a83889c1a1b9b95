"""Helpers for tests that run the command line in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m metaingest ARGS``; capture stdout and stderr as text, never raise."""
    return subprocess.run(
        [sys.executable, "-m", "metaingest", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write_workflow(path: Path, source: dict[str, Any], out: Path) -> Path:
    """Write a workflow file at ``path``: ``source`` into a JSONL sink at ``out``."""
    doc = {"source": source, "sink": {"type": "jsonl", "path": str(out)}}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def build_demo(directory: Path) -> None:
    """The quick start in ``directory``: the demo built (out/demo) and its demo.yaml."""
    subprocess.run(
        [sys.executable, str(ROOT / "examples" / "build_demo.py"), "out/demo"],
        cwd=directory,
        check=True,
        capture_output=True,
    )
    (directory / "demo.yaml").write_text(
        (ROOT / "examples" / "demo.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
