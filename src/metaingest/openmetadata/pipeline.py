"""Map ``source.sourceConfig.config`` and ``workflowConfig`` onto metaingest's keys.

Two pipeline types: ``DatabaseMetadata`` (``map_pipeline``) and ``DatabaseLineage``
(``map_lineage_pipeline``: view lineage only, sent by a ``lineage_only`` sink). Both share
``threads`` and the filter patterns.

Filter patterns keep OpenMetadata's semantics: each regex is applied with ``re.match``
(anchored at the start, not the end) and case-insensitively (its ingestion code passes
``re.IGNORECASE``), so each pattern is written as ``(?i)<pattern>``; a name must match one
include (when includes are given) and no exclude (OpenMetadata >= 1.5 applies includes, then
excludes; metaingest does the same). ``useFqnForFiltering: true`` is an error: metaingest's
filters see names, and filtering other entities than the file says is unsafe with
``markDeleted*``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from metaingest.errors import ConfigError

if TYPE_CHECKING:
    from .workflow_file import Section

__all__ = ["map_lineage_pipeline", "map_pipeline", "map_server"]

_FLAGS = {
    "includeTables": "include_tables",
    "includeViews": "include_views",
    "includeOwners": "include_owners",
    "includeStoredProcedures": "include_stored_procedures",
    "includeDDL": "include_ddl",
}
_DELETES = {
    "markDeletedTables": "mark_deleted_tables",
    "markDeletedStoredProcedures": "mark_deleted_stored_procedures",
    "markDeletedSchemas": "mark_deleted_schemas",
    "markDeletedDatabases": "mark_deleted_databases",
}
_FILTERS = {
    "databaseFilterPattern": "database_filter",
    "schemaFilterPattern": "schema_filter",
    "tableFilterPattern": "table_filter",
    "storedProcedureFilterPattern": "stored_procedure_filter",
}
_LINEAGE_FILTERS = {k: v for k, v in _FILTERS.items() if k != "storedProcedureFilterPattern"}
_SYSTEM_SCHEMAS = {
    "postgres": ("^pg_catalog$", "^information_schema$", "^pg_toast", "^pg_temp_"),
    "mysql": ("^mysql$", "^information_schema$", "^performance_schema$", "^sys$"),
    "mariadb": ("^mysql$", "^information_schema$", "^performance_schema$", "^sys$"),
    "sqlite": (),
}


def _insensitive(patterns: list[Any]) -> list[Any]:
    return [p if isinstance(p, str) and p.startswith("(?i)") else f"(?i){p}" for p in patterns]


def _filter(section: Section, key: str) -> dict[str, Any] | None:
    if not section.has(key):
        return None
    pattern = section.section(key)
    out: dict[str, Any] = {}
    for part in ("includes", "excludes"):
        value = pattern.get(part)
        if value.value:
            out[part] = _insensitive(list(value.out))
    return out


def _only_schema(kind: str, name: str, schema_filter: dict[str, Any] | None) -> dict[str, Any]:
    """``databaseSchema: x`` (one schema) combined with the schema filter's excludes."""
    includes = (schema_filter or {}).get("includes") or []
    if includes and not any(re.match(p, name) for p in includes):
        raise ConfigError(
            f"source.serviceConnection.config.databaseSchema: {name!r} matches no include of "
            "source.sourceConfig.config.schemaFilterPattern: nothing would be ingested"
        )
    out: dict[str, Any] = {"includes": [f"^{re.escape(name)}$"]}
    if schema_filter and "excludes" in schema_filter:
        out["excludes"] = schema_filter["excludes"]
    return out


def _threads(section: Section, source: dict[str, Any]) -> None:
    """``type`` and ``threads``, as both pipelines map them."""
    section.get("type")
    threads = section.get("threads")
    if threads.value is not None:
        source["threads"] = threads.out


def _filters(
    kind: str, section: Section, source: dict[str, Any], filters: dict[str, str] = _FILTERS
) -> None:
    """The filter patterns, as both pipelines map them."""
    for key, native in filters.items():
        pattern = _filter(section, key)
        if pattern is None:
            continue
        if native == "schema_filter" and "excludes" in pattern:
            # an explicit list replaces metaingest's default system-schema excludes;
            # OpenMetadata's connectors never ingest the system schemas either
            pattern["excludes"] = [*_SYSTEM_SCHEMAS[kind], *pattern["excludes"]]
        if pattern:
            source[native] = pattern
    only = source.pop("_only_schema", None)
    if only is not None:
        source["schema_filter"] = _only_schema(kind, only, source.get("schema_filter"))


def map_pipeline(kind: str, section: Section, source: dict[str, Any], sink: dict[str, Any]) -> None:
    """Fill ``source`` and ``sink`` from the DatabaseMetadata pipeline config."""
    _threads(section, source)
    for key, native in _FLAGS.items():
        if section.has(key):
            source[native] = section.get(key).out
    for key, native in _DELETES.items():
        if section.has(key):
            sink[native] = section.get(key).out
    if section.get("useFqnForFiltering", False).value:
        raise section.fail(
            "useFqnForFiltering",
            "filtering on fully qualified names is not supported; write the patterns against "
            "names (with false)",
        )
    _filters(kind, section, source)
    if section.get("overrideMetadata", False).value:
        section.warn(
            "overrideMetadata",
            "true is not implemented: the sink writes by PUT, and the server keeps descriptions "
            "and owners edited there",
        )
    if section.get("includeTags", False).value:
        section.warn("includeTags", "tags are not extracted; ignored")
    section.warn_rest()


# Lineage keys that only tune reading query logs (processQueryLineage); ignoring them changes
# nothing metaingest sends.
_QUERY_LOG_KEYS = ("queryLogDuration", "queryLogFilePath", "resultLimit", "filterCondition")
# Lineage toggles whose false is what metaingest does: silent when false, a warning when true.
_OFF_BY_METAINGEST = {
    # OpenMetadata looks for upstreams in crossDatabaseServiceNames' services too; metaingest
    # names upstreams in the view's own service only: edges to elsewhere are missing, never wrong
    "processCrossDatabaseLineage": "upstreams in other services are not looked for; ignored",
    "enableTempTableLineage": "Snowflake temporary tables are not read; ignored",
    # OpenMetadata processes lineage incrementally (what changed since its last run); metaingest
    # sends every view's edges again, as upserts: the same edges on the server, more requests
    "incrementalLineageProcessing": "every view's lineage is sent on each run (the same "
    "edges, as upserts); ignored",
}


def map_lineage_pipeline(
    kind: str, section: Section, source: dict[str, Any], sink: dict[str, Any]
) -> None:
    """Fill ``source`` and ``sink`` from the DatabaseLineage pipeline config: view lineage only.

    OpenMetadata's lineage pipeline assumes its metadata pipeline ran first: the run reads the
    source with view lineage on and the sink sends lineage only (``lineage_only``), every id
    looked up by FQN on the server; it writes no entity and deletes nothing.
    """
    if not section.get("processViewLineage", True).value:
        raise section.fail(
            "processViewLineage",
            "false leaves nothing to run: metaingest's lineage pipeline sends view lineage only "
            "(query and stored procedure lineage are not implemented)",
        )
    _threads(section, source)
    if section.get("overrideViewLineage", False).value:
        # an error, not a warning: the file asks to override the views' existing lineage on
        # the server (an upstream dropped from a view's definition loses its edge); metaingest
        # only adds and updates edges, so ignoring the key would keep edges the file asked to
        # replace
        raise section.fail(
            "overrideViewLineage",
            "true is not implemented: metaingest adds and updates view lineage edges and "
            "removes none (write false)",
        )
    source["include_lineage"] = True
    source["include_stored_procedures"] = False  # nothing in a lineage run uses them
    sink["lineage_only"] = True
    # On by default: a file that leaves them unset asks for them, so they warn unset too. A
    # warning, not an error: the view edges sent are right, the query ones are missing.
    for key, what in (
        ("processQueryLineage", "lineage from query logs"),
        ("processStoredProcedureLineage", "stored procedure lineage"),
    ):
        if section.get(key, True).value:
            default = "" if section.has(key) else " (true by default)"
            section.warn(key, f"{what} is not implemented; view lineage only{default}")
    for key in _QUERY_LOG_KEYS:
        if section.has(key):
            section.warn(key, "tunes query lineage, which is not implemented; ignored")
    for key, why in _OFF_BY_METAINGEST.items():
        if section.get(key, False).value:
            section.warn(key, why)
    # a warning: without stored procedure lineage it has nothing to select
    if section.has("storedProcedureFilterPattern"):
        section.warn(
            "storedProcedureFilterPattern",
            "applies to stored procedure lineage, which is not implemented; ignored",
        )
    # a warning: another parser finds the same kind of edges; metaingest's are never guesses
    if section.has("queryParserConfig"):
        section.warn(
            "queryParserConfig",
            "metaingest parses view definitions with sqlglot (checked against the catalog's "
            "dependency records where the engine has them); ignored",
        )
    # a warning: with no limit a slow definition is parsed, not skipped: more lineage, never
    # wrong lineage; the cost is time
    if section.has("parsingTimeoutLimit"):
        section.warn("parsingTimeoutLimit", "a view's parsing has no time limit; ignored")
    _filters(kind, section, source, _LINEAGE_FILTERS)
    section.warn_rest()


def map_server(section: Section, sink: dict[str, Any], settings: dict[str, Any]) -> None:
    """Fill the sink's server keys and run-wide settings from ``workflowConfig``."""
    threshold = section.get("successThreshold")
    if threshold.value is not None:
        settings["success_threshold"] = threshold.out
    if section.has("loggerLevel"):
        section.warn("loggerLevel", "use --log-level; ignored")
    if section.has("raiseOnError") and not section.get("raiseOnError").value:
        section.warn(
            "raiseOnError", "false is not implemented: a run below successThreshold exits 1"
        )
    section.get("raiseOnError")
    server = section.section("openMetadataServerConfig")
    sink["host_port"] = server.get("hostPort").out
    server.get("type")
    provider = server.get("authProvider", "basic").value
    security = server.section("securityConfig")
    token = security.get("jwtToken")
    if provider == "openmetadata":
        if token.value is None:
            raise server.fail("securityConfig.jwtToken", "required with authProvider openmetadata")
        sink["jwt_token"] = token.out
    elif provider != "basic" or token.value is not None:
        raise server.fail(
            "authProvider",
            f"{provider!r} is not supported: use authProvider openmetadata with a bot's JWT",
        )
    verify = server.get("verifySSL", "no-ssl").value
    sink["verify_ssl"] = verify
    if server.has("sslConfig"):
        ssl = server.section("sslConfig")
        ca = ssl.get("caCertificate")
        if ca.value is not None:
            sink["ca_certificate"] = ca.out
        for key in ("sslCertificate", "sslKey"):
            if ssl.has(key):
                raise ssl.fail(key, "client certificates are not supported")
    server.warn_rest()
    section.warn_rest()
