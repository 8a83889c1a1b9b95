"""Catalog SQL, kept apart from Python logic: one ``.sql`` file per engine.

A file holds named queries, each introduced by a ``-- name: NAME`` line, and may hold
fragments, introduced by ``-- fragment: NAME``: a query that says ``{NAME}`` gets the
fragment's text there, so SQL that several queries share is written once.
"""

from __future__ import annotations

import re
from functools import cache
from importlib.resources import files

__all__ = ["queries"]

_SECTION = re.compile(r"^--\s*(name|fragment):\s*(\w+)\s*$", re.MULTILINE)


@cache
def queries(engine: str) -> dict[str, str]:
    """The named queries of ``sql/<engine>.sql``, with their fragments filled in."""
    text = files(__package__).joinpath(f"{engine}.sql").read_text(encoding="utf-8")
    parts = _SECTION.split(text)
    sections = zip(parts[1::3], parts[2::3], parts[3::3], strict=True)
    named: dict[str, str] = {}
    fragments: dict[str, str] = {}
    for kind, name, body in sections:
        (named if kind == "name" else fragments)[name] = body.strip().rstrip(";")
    for fragment, body in fragments.items():
        for name, query in named.items():
            named[name] = query.replace("{" + fragment + "}", body)
    return named
