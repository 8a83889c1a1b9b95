"""Validate parts of an OpenMetadata workflow file against its official JSON Schemas, offline.

The schemas ship in ``schemas/`` (see SOURCE.md there); each file is registered under its
canonical URL and its own ``$id``, so every ``$ref`` resolves without the network. An invalid
document becomes one ``ConfigError`` naming the key path (``source.sourceConfig.config.threads:
'8x' is not of type 'integer'``).
"""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any

from jsonschema import Draft7Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from metaingest.errors import ConfigError

__all__ = ["check", "document", "key_path"]

BASE = "https://open-metadata.org/schema/"


def _walk(folder: Traversable, prefix: str) -> list[tuple[str, Traversable]]:
    found: list[tuple[str, Traversable]] = []
    for item in folder.iterdir():
        name = f"{prefix}{item.name}"
        if item.is_dir():
            found.extend(_walk(item, name + "/"))
        elif item.name.endswith(".json"):
            found.append((name, item))
    return found


@cache
def _documents() -> dict[str, dict[str, Any]]:
    root = files("metaingest.openmetadata").joinpath("schemas")
    return {name: json.loads(item.read_text("utf-8")) for name, item in _walk(root, "")}


def document(path: str) -> dict[str, Any]:
    """One vendored schema document by its path (``metadataIngestion/workflow.json``)."""
    return _documents()[path]


@cache
def _registry() -> Registry:
    resources: list[tuple[str, Resource[Any]]] = []
    for path, doc in _documents().items():
        resource = Resource.from_contents(doc, default_specification=DRAFT7)
        resources.append((BASE + path, resource))
        if isinstance(doc.get("$id"), str):
            resources.append((doc["$id"], resource))
    return Registry().with_resources(resources)


@cache
def _validator(ref: str) -> Draft7Validator:
    return Draft7Validator({"$ref": BASE + ref}, registry=_registry())


def key_path(where: str, parts: Any) -> str:
    """``where`` followed by a JSON path's parts, as ``a.b[0].c``."""
    out = where
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return str(error.message).replace("Additional properties are not allowed", "unknown key")
    if error.validator == "oneOf" and error.context:
        deepest = best_match(error.context)
        return _message(deepest) if deepest is not None else error.message
    text = str(error.message)
    return text if len(text) <= 200 else text[:197] + "..."


def check(ref: str, instance: Any, where: str) -> None:
    """Raise ConfigError for the most relevant violation of ``instance`` against ``ref``."""
    # A ``oneOf`` whose instance matches several branches (MySQL's ``authType: {password}``
    # fits basicAuth and gcpCloudSqlConfig) is accepted, as OpenMetadata's own models (first
    # match of a Union) accept it.
    errors = (
        e
        for e in _validator(ref).iter_errors(instance)
        if not (e.validator == "oneOf" and "is valid under each of" in str(e.message))
    )
    error = best_match(errors)
    if error is None:
        return
    path = error.absolute_path
    if error.validator == "oneOf" and error.context:
        deepest = best_match(error.context)
        if deepest is not None:
            path = error.absolute_path + deepest.absolute_path
    raise ConfigError(f"{key_path(where, path) or '(top level)'}: {_message(error)}")
