"""Validate payloads against OpenMetadata's official JSON Schemas, offline.

The schemas are vendored in ``tests/openmetadata_schemas/`` (OpenMetadata 1.13, Apache-2.0;
``SOURCE.md`` there names the upstream repository and commit). Each file is registered under
its canonical URL and under its own ``$id``, so every ``$ref`` resolves without the network.
"""

from __future__ import annotations

import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

ROOT = Path(__file__).resolve().parent / "openmetadata_schemas"
BASE = "https://open-metadata.org/schema/"

REQUESTS = {
    "databaseService": "api/services/createDatabaseService.json",
    "database": "api/data/createDatabase.json",
    "databaseSchema": "api/data/createDatabaseSchema.json",
    "table": "api/data/createTable.json",
    "lineage": "api/lineage/addLineage.json",
    "storedProcedure": "api/data/createStoredProcedure.json",
}


@cache
def _registry() -> Registry:
    if not ROOT.is_dir():
        raise FileNotFoundError(f"OpenMetadata schemas not found at {ROOT}")
    resources: list[tuple[str, Resource[Any]]] = []
    for file in ROOT.rglob("*.json"):
        document = json.loads(file.read_text(encoding="utf-8"))
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        resources.append((BASE + file.relative_to(ROOT).as_posix(), resource))
        if isinstance(document.get("$id"), str):
            resources.append((document["$id"], resource))
    return Registry().with_resources(resources)


@cache
def _validator(kind: str) -> Draft7Validator:
    return Draft7Validator({"$ref": BASE + REQUESTS[kind]}, registry=_registry())


def validation_errors(kind: str, payload: dict[str, Any]) -> list[str]:
    """Every schema violation of ``payload`` as a Create*Request of ``kind``."""
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in _validator(kind).iter_errors(payload)
    ]


def with_ids(request: dict[str, Any]) -> dict[str, Any]:
    """An FQN-named AddLineageRequest (the JSONL ``openmetadata`` format) with the entity ids
    a server would resolve filled in: what a valid request then looks like."""
    edge = dict(request["edge"])
    for end in ("fromEntity", "toEntity"):
        edge[end] = {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, edge[end]["fullyQualifiedName"])),
            "type": edge[end]["type"],
        }
    return {**request, "edge": edge}
