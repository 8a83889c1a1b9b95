"""OpenMetadata's workflow file (``metadata ingest -c``), read unchanged and mapped natively.

A file of that shape (``source.serviceConnection`` or a top-level ``workflowConfig``) is
validated against OpenMetadata's official JSON Schemas first (one line naming the key path),
then mapped onto metaingest's own workflow document (``connection.py`` maps the source's
connection, ``pipeline.py`` the source config: the ``DatabaseMetadata`` pipeline, or the
``DatabaseLineage`` one as a view-lineage-only run). A key metaingest does not implement is
never ignored silently: it is a warning naming the key, or an error where ignoring it would
be unsafe (an auth type or TLS mode the source cannot do).

``${VAR}`` references are kept as written in the native document (so ``convert`` prints
them unexpanded); decisions (booleans, auth kinds) are taken on the expanded values.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from metaingest.config import WorkflowConfig, parse_config
from metaingest.errors import ConfigError
from metaingest.interpolate import check_size, interpolate

__all__ = ["Mapped", "Value", "is_workflow_file", "load_workflow_file", "map_workflow_file"]

log = logging.getLogger("metaingest.openmetadata")

SOURCES = {"postgres": "Postgres", "mysql": "Mysql", "mariadb": "MariaDB", "sqlite": "SQLite"}
CONNECTIONS = {
    "postgres": "entity/services/connections/database/postgresConnection.json",
    "mysql": "entity/services/connections/database/mysqlConnection.json",
    "mariadb": "entity/services/connections/database/mariaDBConnection.json",
    "sqlite": "entity/services/connections/database/sqliteConnection.json",
}
WORKFLOW = "metadataIngestion/workflow.json"
# sourceConfig.config.type -> (its schema, its name in messages)
PIPELINES = {
    "DatabaseMetadata": ("metadataIngestion/databaseServiceMetadataPipeline.json", "metadata"),
    "DatabaseLineage": ("metadataIngestion/databaseServiceQueryLineagePipeline.json", "lineage"),
}
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def is_workflow_file(data: Any) -> bool:
    """True for a document of OpenMetadata's shape rather than metaingest's own."""
    if not isinstance(data, dict):
        return False
    source = data.get("source")
    return "workflowConfig" in data or (isinstance(source, dict) and "serviceConnection" in source)


@dataclass(frozen=True, slots=True)
class Value:
    """A key's value as written (``raw``, may hold ``${VAR}``) and expanded (``value``)."""

    raw: Any
    value: Any

    @property
    def out(self) -> Any:
        """What to write into the native document: the reference if there was one."""
        if isinstance(self.raw, str) and _ENV.search(self.raw):
            return self.raw
        return self.value


@dataclass
class Mapped:
    """The native workflow document and the warnings the mapping produced."""

    native: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


class Section:
    """One mapping of the file (raw and expanded side by side) at a key path."""

    def __init__(self, raw: Any, value: Any, where: str, mapped: Mapped) -> None:
        self.raw = raw if isinstance(raw, dict) else {}
        self.value = value if isinstance(value, dict) else {}
        self.where = where
        self.mapped = mapped
        self.used: set[str] = set()

    def path(self, key: str) -> str:
        """The key path of ``key`` in this section."""
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        """True when the file sets ``key`` here."""
        return key in self.value

    def get(self, key: str, default: Any = None) -> Value:
        """The key's value (marks it as mapped)."""
        self.used.add(key)
        return Value(self.raw.get(key, default), self.value.get(key, default))

    def section(self, key: str) -> Section:
        """A nested mapping (marks it as mapped)."""
        self.used.add(key)
        return Section(self.raw.get(key), self.value.get(key), self.path(key), self.mapped)

    def fail(self, key: str, message: str) -> ConfigError:
        """A ConfigError naming ``key``."""
        return ConfigError(f"{self.path(key)}: {message}")

    def warn(self, key: str, message: str = "not implemented by metaingest; ignored") -> None:
        """Record a warning naming ``key``."""
        self.used.add(key)
        self.mapped.warnings.append(f"{self.path(key)}: {message}")

    def warn_rest(self, why: Callable[[str], str] | None = None) -> None:
        """A warning for every key set here that no mapping took."""
        for key in self.value:
            if key not in self.used:
                self.warn(key, why(key) if why else "not implemented by metaingest; ignored")


def _lenient(value: Any) -> Any:
    """Expand ``${VAR}`` from the environment, leaving unset references as written."""
    if isinstance(value, dict):
        return {k: _lenient(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lenient(v) for v in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        return os.environ.get(name, default if default is not None else match.group(0))

    return _ENV.sub(replace, value)


def _check_keys(doc: dict[str, Any], allowed: Mapping[str, Any], where: str) -> None:
    for key in doc:
        if key not in allowed:
            raise ConfigError(f"{where + '.' if where else ''}{key}: unknown key")


def _validate(doc: dict[str, Any]) -> tuple[str, str]:
    """Validate the file against the official schemas; return the source and pipeline types."""
    from . import schema  # jsonschema is imported only for a file of OpenMetadata's shape

    workflow = schema.document(WORKFLOW)
    top = workflow["properties"]["openMetadataWorkflowConfig"]
    _check_keys(doc, top["properties"], "")
    for key in top["required"]:
        if key not in doc:
            raise ConfigError(f"{key}: required key is missing")
    source = doc["source"]
    if not isinstance(source, dict):
        raise ConfigError("source: must be a mapping")
    _check_keys(source, workflow["definitions"]["source"]["properties"], "source")
    kind = source.get("type")
    if not isinstance(kind, str) or kind.lower() not in SOURCES:
        raise ConfigError(
            f"source.type: metaingest reads {', '.join(SOURCES)} (got {kind!r}); "
            "other OpenMetadata connectors are not supported"
        )
    kind = kind.lower()
    connection = source.get("serviceConnection")
    if not isinstance(connection, dict) or not isinstance(connection.get("config"), dict):
        raise ConfigError(
            "source.serviceConnection.config: required (metaingest does not fetch a service's "
            "connection from the server)"
        )
    _check_keys(connection, {"config": None}, "source.serviceConnection")
    schema.check(CONNECTIONS[kind], connection["config"], "source.serviceConnection.config")
    pipeline = source.get("sourceConfig")
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("config"), dict):
        raise ConfigError("source.sourceConfig.config: required key is missing")
    _check_keys(pipeline, {"config": None}, "source.sourceConfig")
    pipeline_type = pipeline["config"].get("type", "DatabaseMetadata")
    if pipeline_type not in PIPELINES:
        raise ConfigError(
            f"source.sourceConfig.config.type: metaingest runs the {' and '.join(PIPELINES)} "
            f"pipelines only (got {pipeline_type!r})"
        )
    schema.check(PIPELINES[pipeline_type][0], pipeline["config"], "source.sourceConfig.config")
    if "sink" in doc:
        schema.check(f"{WORKFLOW}#/definitions/sink", doc["sink"], "sink")
    schema.check(f"{WORKFLOW}#/definitions/workflowConfig", doc["workflowConfig"], "workflowConfig")
    return kind, pipeline_type


def map_workflow_file(data: dict[str, Any], resolve: Callable[[Any], Any]) -> Mapped:
    """Validate an OpenMetadata workflow document and map it onto metaingest's own."""
    from .connection import map_connection
    from .pipeline import map_lineage_pipeline, map_pipeline, map_server

    resolved = resolve(data)
    kind, pipeline_type = _validate(resolved)
    mapped = Mapped({})
    top = Section(data, resolved, "", mapped)
    source_section = top.section("source")
    source: dict[str, Any] = {"type": kind}
    source_section.get("type")
    name = source_section.get("serviceName")
    if name.value is not None:
        source["service_name"] = name.out
    sink: dict[str, Any] = {"type": "metadata-rest"}
    settings: dict[str, Any] = {}
    connection = source_section.section("serviceConnection").section("config")
    map_connection(kind, connection, source)
    pipeline = source_section.section("sourceConfig").section("config")
    if pipeline_type == "DatabaseLineage":
        map_lineage_pipeline(kind, pipeline, source, sink)
    else:
        map_pipeline(kind, pipeline, source, sink)
    sink_section = top.section("sink")
    sink_type = sink_section.get("type").value
    if sink_type is not None and sink_type != "metadata-rest":
        raise sink_section.fail(
            "type", f"metaingest writes to metadata-rest only (got {sink_type!r})"
        )
    sink_section.section("config").warn_rest()
    map_server(top.section("workflowConfig"), sink, settings)
    label = PIPELINES[pipeline_type][1]
    top.warn_rest(lambda key: f"not used by the {label} pipeline; ignored")
    mapped.native = {"source": source, "sink": sink}
    if settings:
        mapped.native["workflow"] = settings
    return mapped


# Native key -> the OpenMetadata key it came from, for errors found after the mapping.
_ORIGINS = {
    "source.threads": "source.sourceConfig.config.threads",
    "source.host": "source.serviceConnection.config.hostPort",
    "source.port": "source.serviceConnection.config.hostPort",
    "source.path": "source.serviceConnection.config.databaseMode",
    "source.connect_timeout": "source.serviceConnection.config.connectionOptions.connect_timeout",
    "source.database_filter": "source.sourceConfig.config.databaseFilterPattern",
    "source.schema_filter": "source.sourceConfig.config.schemaFilterPattern",
    "source.table_filter": "source.sourceConfig.config.tableFilterPattern",
    "source.stored_procedure_filter": "source.sourceConfig.config.storedProcedureFilterPattern",
    "sink.host_port": "workflowConfig.openMetadataServerConfig.hostPort",
    "sink.ca_certificate": "workflowConfig.openMetadataServerConfig.sslConfig.caCertificate",
    "workflow.success_threshold": "workflowConfig.successThreshold",
}


def _origin(message: str) -> str:
    """A native config error, named by the OpenMetadata key it was mapped from."""
    for native, origin in sorted(_ORIGINS.items(), key=lambda item: -len(item[0])):
        if message.startswith(native) and message[len(native) : len(native) + 1] in (":", ".", "["):
            return origin + message[len(native) :]
    return message


def load_workflow_file(data: dict[str, Any], env: Mapping[str, str]) -> WorkflowConfig:
    """Validate, map (warnings are logged) and load an OpenMetadata workflow document."""
    check_size(data)  # an alias bomb is refused before anything walks the document
    mapped = map_workflow_file(data, lambda doc: interpolate(doc, env))
    for warning in mapped.warnings:
        log.warning("%s", warning)
    try:
        return parse_config(mapped.native, env)
    except ConfigError as exc:
        raise ConfigError(_origin(str(exc))) from None


def lenient(data: Any) -> Any:
    """Expand ``${VAR}`` where set, keep the rest as written (for ``convert``)."""
    return _lenient(data)
