"""Reject filter regexes whose matching can take exponential time.

Python's ``re`` backtracks and cannot be interrupted: a nested repetition such as
``^([a-z_]+)*_old$`` tries every way of splitting a name that does not match, and 27
characters take seconds of CPU on the event loop, deaf to Ctrl-C and ``unit_timeout``.
The rule: a repetition that may run more than once with a varying count (``*``, ``+``,
``{2,5}``) must not contain another such repetition, unless one of the two is possessive
(``*+``, ``++``) or inside an atomic group (``(?>...)``), which never backtrack.
"""

from __future__ import annotations

import re
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

__all__ = ["nested_repetition"]

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)


def _varies(minimum: int, maximum: Any) -> bool:
    """A repeat that can match more than once, a varying number of times."""
    return bool(maximum is sre.MAXREPEAT or maximum > 1) and maximum != minimum


def _children(op: Any, av: Any) -> list[Any]:
    """The sub-patterns of one parsed item that backtracking can re-enter."""
    if op in _REPEATS:
        return [av[2]]
    if op is sre.SUBPATTERN:
        return [av[3]]
    if op is sre.BRANCH:
        return list(av[1])
    if op in (sre.ASSERT, sre.ASSERT_NOT):
        return [av[1]]
    if op is sre.GROUPREF_EXISTS:
        return [p for p in av[1:] if p is not None]
    return []  # literals, classes, and the barriers: POSSESSIVE_REPEAT, ATOMIC_GROUP


def _find_repeat(pattern: Any) -> bool:
    """True when ``pattern`` holds a varying repetition (outside any barrier)."""
    for op, av in pattern:
        if op in _REPEATS and _varies(av[0], av[1]):
            return True
        if any(_find_repeat(child) for child in _children(op, av)):
            return True
    return False


def _nested(pattern: Any) -> bool:
    for op, av in pattern:
        if op in _REPEATS and _varies(av[0], av[1]) and _find_repeat(av[2]):
            return True
        if any(_nested(child) for child in _children(op, av)):
            return True
    return False


def nested_repetition(pattern: str) -> bool:
    """True when ``pattern`` repeats something that itself repeats (exponential matching)."""
    try:
        parsed = _parser.parse(pattern)
    except re.error:
        return False  # compiling reports it
    return _nested(parsed.data)
