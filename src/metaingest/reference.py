"""The workflow file reference, generated from the pydantic models.

README.md embeds ``reference_markdown()`` between two markers and a test compares them, so
the documentation cannot drift from the code. ``python -m metaingest schema --markdown``
prints it.
"""

from __future__ import annotations

import json
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from metaingest.config import (
    CatalogSinkConfig,
    FilterPattern,
    JsonlSinkConfig,
    MetadataRestSinkConfig,
    MysqlSource,
    PostgresSource,
    SqlAlchemySource,
    SqliteSource,
    WorkflowSettings,
)

__all__ = ["reference_markdown"]

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("source (type: postgres)", PostgresSource),
    ("source (type: mysql | mariadb)", MysqlSource),
    ("source (type: sqlite)", SqliteSource),
    ("source (type: sqlalchemy)", SqlAlchemySource),
    ("database_filter, schema_filter, table_filter", FilterPattern),
    ("sink (type: jsonl)", JsonlSinkConfig),
    ("sink (type: catalog)", CatalogSinkConfig),
    ("sink (type: metadata-rest)", MetadataRestSinkConfig),
    ("workflow", WorkflowSettings),
]


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " | ".join(json.dumps(a) for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(annotation))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in get_args(annotation))
        return f"{origin.__name__}[{args}]"
    if annotation is type(None):
        return "null"
    if annotation is SecretStr:
        return "secret string"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "see below" if value.model_dump(exclude_defaults=True) == {} else str(value)
        return json.dumps(value)
    if field.default is PydanticUndefined:
        return ""
    return json.dumps(field.default)


def reference_markdown() -> str:
    """Every key of the workflow file with its type, default and description, as Markdown."""
    out: list[str] = []
    for title, model in SECTIONS:
        out.append(f"#### `{title}`\n")
        doc = " ".join((model.__doc__ or "").split())
        out.append(doc.replace("``", "`") + "\n")
        out.append("| key | type | default | description |")
        out.append("|---|---|---|---|")
        fields = sorted(model.model_fields.items(), key=lambda item: item[0] != "type")
        for name, field in fields:
            description = (field.description or "").replace("|", "\\|")
            type_name = _type_name(field.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {type_name} | {_default(field)} | {description} |")
        out.append("")
    return "\n".join(out)
