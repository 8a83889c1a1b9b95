"""``${VAR}`` interpolation of a parsed workflow document, done exactly once.

Rules for every string value (keys are left alone):

- ``${NAME}`` is the environment variable NAME; an unset one is an error naming it.
- ``${NAME:-default}`` is NAME, or ``default`` when NAME is unset.
- ``$${`` is a literal ``${`` and ``$$NAME`` a literal ``$NAME``; any other ``$`` is literal.
- ``$NAME`` (a shell-style variable) and a ``${`` that is not closed as above are errors:
  they are almost always a variable that was meant to be read, not a password.

A value read from the environment is inserted as it is, never scanned again. Aliases in the
YAML share one parsed value; interpolation keeps them shared (memoized by identity), and a
document whose aliases expand to more than ``MAX_VALUES`` values is rejected before anything
walks it as a tree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["MAX_VALUES", "check_size", "interpolate"]

MAX_VALUES = 100_000  # a real workflow file has a few dozen

_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(
    rf"\$\$(?=\{{|{_NAME})"  # escape: $${ or $$NAME
    rf"|\$\{{(?P<name>{_NAME})(?::-(?P<default>[^}}]{{0,4096}}))?\}}"  # ${NAME} ${NAME:-d}
    rf"|(?P<open>\$\{{)"  # any other ${
    rf"|\$(?P<bare>{_NAME})"  # $NAME
)
_SECRET_KEYS = ("password", "url", "connect_args")


def check_size(data: Any) -> None:
    """Raise ConfigError when aliases make ``data`` a cycle or expand it past MAX_VALUES."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(value: Any) -> int:
        if not isinstance(value, dict | list):
            return 1
        key = id(value)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ConfigError("the workflow file refers to itself through an alias (a cycle)")
        active.add(key)
        children = value.values() if isinstance(value, dict) else value
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_VALUES:
                break
        active.discard(key)
        sizes[key] = total
        if total > MAX_VALUES:
            raise ConfigError(
                f"the workflow file expands to more than {MAX_VALUES:,} values through "
                "its aliases (&anchor/*alias); a workflow needs a few dozen"
            )
        return total

    size(data)


def interpolate(data: Any, env: Mapping[str, str]) -> Any:
    """``data`` with ``${...}`` replaced in every string; shared values stay shared."""
    done: dict[int, Any] = {}

    def walk(value: Any, where: str) -> Any:
        if isinstance(value, str):
            return _substitute(value, env, where)
        if not isinstance(value, dict | list):
            return value
        key = id(value)
        if key not in done:
            if isinstance(value, dict):
                done[key] = {
                    k: walk(v, f"{where}.{k}" if where else str(k)) for k, v in value.items()
                }
            else:
                done[key] = [walk(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return done[key]

    return walk(data, "")


def _substitute(text: str, env: Mapping[str, str], where: str) -> str:
    if "$" not in text:
        return text
    secret = any(part in where for part in _SECRET_KEYS)

    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name is not None:
            if name in env:
                return env[name]
            default = match.group("default")
            if default is not None:
                return default
            raise ConfigError(f"{where}: environment variable {name} is not set")
        if match.group("open") is not None:
            raise ConfigError(
                f"{where}: unclosed or invalid ${{: write ${{NAME}} or ${{NAME:-default}} to"
                " read the environment, or $${ for a literal ${"
            )
        bare = match.group("bare")
        if bare is not None:
            name = "NAME" if secret else bare  # a secret's text is never shown
            raise ConfigError(
                f"{where}: ${name} is not read from the environment: write ${{{name}}} to read"
                f" it, or $${name} for a literal ${name}"
            )
        return "$"  # the escape $$ before { or a name

    return _TOKEN.sub(replace, text)
