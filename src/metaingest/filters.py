"""Include/exclude regex filters for databases, schemas and tables.

Patterns are applied here, in Python, to names the catalog returned; they are never spliced
into SQL. ``Filter.reason(name)`` says why a name is dropped (for reports and dry runs).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from .config import FilterPattern

__all__ = ["Filter"]


@dataclass(frozen=True, slots=True)
class Filter:
    """Compiled include/exclude patterns; ``reason(name)`` is None when the name passes."""

    includes: tuple[re.Pattern[str], ...]
    excludes: tuple[re.Pattern[str], ...]

    @classmethod
    def from_config(cls, pattern: FilterPattern, default_excludes: Sequence[str] = ()) -> Filter:
        """Compile a FilterPattern; unset excludes fall back to ``default_excludes``."""
        excludes = default_excludes if pattern.excludes is None else pattern.excludes
        return cls(
            tuple(re.compile(p) for p in pattern.includes),
            tuple(re.compile(p) for p in excludes),
        )

    def reason(self, name: str) -> str | None:
        """Why ``name`` is filtered out, or None when it passes."""
        if self.includes and not any(p.match(name) for p in self.includes):
            return "matches no include pattern"
        for pattern in self.excludes:
            if pattern.match(name):
                return f"excluded by {pattern.pattern!r}"
        return None

    def __call__(self, name: str) -> bool:
        """True when ``name`` passes the filter."""
        return self.reason(name) is None
