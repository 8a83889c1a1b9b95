"""``metaingest convert workflow.yaml``: print the native workflow an OpenMetadata file maps to."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from metaingest.config import parse_config
from metaingest.errors import ConfigError

from .workflow_file import is_workflow_file, lenient, map_workflow_file

__all__ = ["convert_file"]


def _read(path: str | os.PathLike[str]) -> Any:
    file = Path(path)
    try:
        return yaml.safe_load(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError:
        raise ConfigError(f"{file}: not valid YAML") from None


def convert_file(path: str | os.PathLike[str]) -> tuple[str, list[str]]:
    """The native workflow YAML for an OpenMetadata workflow file, and the mapping's warnings.

    ``${VAR}`` references stay as written (never expanded into the output); the result is
    checked to load as a native file (with every referenced variable treated as set).
    """
    data = _read(path)
    if not is_workflow_file(data):
        raise ConfigError(
            f"{path}: not an OpenMetadata workflow file (no source.serviceConnection)"
        )
    mapped = map_workflow_file(data, lenient)

    class _Any(dict[str, str]):
        def __contains__(self, key: object) -> bool:
            return True

        def __getitem__(self, key: str) -> str:
            return os.environ.get(key, "1")

    parse_config(mapped.native, _Any())  # the output must load as a native file
    text = yaml.safe_dump(mapped.native, sort_keys=False, default_flow_style=False)
    return text, mapped.warnings
