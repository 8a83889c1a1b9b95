"""Catalog SQL, kept apart from Python logic: one ``.sql`` file per engine.

A file holds named queries, each introduced by a ``-- name: NAME`` line.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

__all__ = ["queries"]

_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)


@cache
def queries(engine: str) -> dict[str, str]:
    """The named queries of ``sql/<engine>.sql``."""
    text = files(__package__).joinpath(f"{engine}.sql").read_text(encoding="utf-8")
    parts = _NAME.split(text)
    return {
        name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }
