"""Read a workflow file's YAML: duplicate keys are errors, syntax errors quote their line.

``yaml.safe_load`` keeps the last of two equal keys and reports a syntax error as a
multi-line mark; here a duplicate key names itself and both lines, and a syntax error is one
line quoting the offending line, its value masked when the line holds a secret.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode

from .errors import ConfigError

__all__ = ["load_yaml"]

_MERGE = "tag:yaml.org,2002:merge"
# key: value lines whose value is a secret: quoted with the value masked
_SECRET_LINE = re.compile(
    r"^(\s*-?\s*[\"']?(?:password|passwd|pwd|secret|token|url)[\"']?\s*:\s*)\S.*$",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"://([^\s:/@]{0,256}):[^\s@/]{0,1024}@")


class _Loader(yaml.SafeLoader):
    """A SafeLoader that rejects a mapping holding the same key twice."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _value in node.value:
            if key_node.tag == _MERGE:
                continue  # `<<: *base` merges keys that explicit keys may override
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark.line)
            except TypeError:
                continue  # unhashable: the base constructor reports it
            if first != key_node.start_mark.line:
                line = key_node.start_mark.line + 1
                raise ConfigError(f"duplicate key {key!r} at lines {first + 1} and {line}")
        return super().construct_mapping(node, deep=deep)


def _quote(text: str, line: int) -> str:
    """The 1-based ``line`` of ``text``, stripped, with any secret value masked."""
    lines = text.splitlines()
    if not 0 < line <= len(lines):
        return ""
    quoted = lines[line - 1].strip()
    quoted = _SECRET_LINE.sub(r"\1***", quoted)
    quoted = _URL_USERINFO.sub(r"://\1:***@", quoted)
    if len(quoted) > 120:
        quoted = quoted[:117] + "..."
    return f": {quoted!r}" if quoted else ""


def load_yaml(text: str, name: str) -> Any:
    """Parse ``text`` (the file ``name``); raise ConfigError naming the line on any problem."""
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except ConfigError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "syntax error"
        if mark is None:
            raise ConfigError(f"{name}: not valid YAML: {problem}") from None
        line = mark.line + 1
        message = f"{name}: not valid YAML at line {line}{_quote(text, line)}: {problem}"
        start = exc.context_mark
        if exc.context and start is not None and start.line != mark.line:
            message += f" ({exc.context} at line {start.line + 1}{_quote(text, start.line + 1)})"
        raise ConfigError(message) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{name}: not valid YAML: {' '.join(str(exc).split())}") from None
