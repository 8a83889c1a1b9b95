"""Turn pydantic's validation errors into one line naming every bad key.

Each error reads ``key.path: problem``; all of them are joined with ``; `` so a file with
three mistakes is fixed in one round. An unknown key gets the closest known key of its
section as a suggestion (``source.thred: unknown key (did you mean 'threads'?)``).
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["describe_errors"]


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation may hold directly (through unions, Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, Annotated):
        return [m for arg in get_args(annotation) for m in _models_in(arg)]
    return []


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return ()
    return get_args(field.annotation)


def _walk(root: type[BaseModel], loc: Sequence[Any]) -> tuple[str, list[type[BaseModel]]]:
    """The shown key path of ``loc`` (union tags left out) and the models found there."""
    models = [root]
    shown = ""
    for part in loc:
        if isinstance(part, int):
            shown += f"[{part}]"
            models = []
            continue
        chosen = [m for m in models if part in _tags(m)] if len(models) > 1 else []
        if chosen:
            models = chosen  # pydantic names the union member: not a key of the file
            continue
        shown = f"{shown}.{part}" if shown else str(part)
        found = [m.model_fields[part] for m in models if part in m.model_fields]
        models = [m for field in found for m in _models_in(field.annotation)]
    return shown, models


def _keys(models: list[type[BaseModel]]) -> list[str]:
    keys = {name for model in models for name in model.model_fields}
    if "password" in keys:
        keys.add("url")  # sources with a password also take url: (split before validation)
    return sorted(keys)


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _number(bound: Any) -> Any:
    """``100`` for a bound of ``100.0``, as the user wrote it."""
    return int(bound) if isinstance(bound, float) and bound.is_integer() else bound


def _describe(root: type[BaseModel], error: Mapping[str, Any]) -> str:
    loc = tuple(error["loc"])
    where, _models = _walk(root, loc)
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        _parent, siblings = _walk(root, loc[:-1])
        message = "unknown key" + _suggest(str(loc[-1]), _keys(siblings))
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "greater_than_equal":
        message = f"must be >= {_number(ctx['ge'])}"
    elif kind == "greater_than":
        message = f"must be > {_number(ctx['gt'])}"
    elif kind == "less_than_equal":
        message = f"must be <= {_number(ctx['le'])}"
    elif kind == "union_tag_invalid":
        expected = re.findall(r"'([^']*)'", str(ctx["expected_tags"]))
        close = difflib.get_close_matches(str(ctx["tag"]), expected, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        message = f"unknown type {ctx['tag']!r} ({hint}expected one of {ctx['expected_tags']})"
    elif kind == "union_tag_not_found":
        message = "type is required"
        where = f"{where}.type" if where else "type"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
    if message.startswith("["):  # a list element named by the validator: key[0]: ...
        index, _, message = message.partition(" ")
        where += index
    return f"{where}: {message}" if where else message


def describe_errors(root: type[BaseModel], errors: Sequence[Mapping[str, Any]]) -> str:
    """Every error of a validation against ``root``, one ``key: problem`` each, on one line."""
    lines = list(dict.fromkeys(_describe(root, error) for error in errors))
    return "; ".join(lines)
