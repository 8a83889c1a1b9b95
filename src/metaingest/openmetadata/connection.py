"""Map ``source.serviceConnection.config`` (postgres, mysql, mariadb, sqlite) onto a source.

What maps: ``hostPort``, ``username``, ``authType: {password}`` (MariaDB: ``password``),
``database`` / ``ingestAllDatabases`` (PostgreSQL), ``databaseName`` / ``databaseSchema``
(MySQL, MariaDB), ``databaseMode`` / ``database`` (SQLite), and the connection options and
arguments the drivers share (``application_name``, ``connect_timeout``). TLS the source
connectors cannot do yet (``sslMode: require`` and stricter, ``sslConfig``, ``ssl*`` options)
and auth types other than a password (IAM, Azure, Cloud SQL) are errors: ignoring them would
connect in a way the file forbids. Everything else set in the file is a warning.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .workflow_file import Section

__all__ = ["map_connection", "split_host_port"]

_PLAIN_SSL_MODES = {"disable", "allow", "prefer"}
_OTHER_PIPELINES = (
    "scheme",
    "classificationName",
    "queryStatementSource",
    "sampleDataStorageConfig",
    "useSlowLogs",
)


def split_host_port(text: str, where: str, default_port: int) -> tuple[str, str | int]:
    """``host:port`` (``[v6]:port``) into its parts; the port may be a ``${VAR}``."""
    from metaingest.errors import ConfigError

    match = re.fullmatch(r"\[([^\]]+)\](?::(.+))?|([^:]*)(?::([^:]+))?", text.strip())
    if match is None or not (match.group(1) or match.group(3)):
        raise ConfigError(f"{where}: expected host:port (got {text!r})")
    host = match.group(1) or match.group(3)
    port = match.group(2) or match.group(4)
    if port is None:
        return host, default_port
    return host, int(port) if port.isdigit() else port


def _host_port(section: Section, source: dict[str, Any], default_port: int) -> None:
    value = section.get("hostPort")
    if value.value is None:
        return
    text = value.out
    if "${" in text and ":" not in text:  # one reference for both parts: split the value
        text = value.value
    host, port = split_host_port(text, section.path("hostPort"), default_port)
    source["host"] = host
    source["port"] = port


def _password(kind: str, section: Section, source: dict[str, Any]) -> None:
    if kind == "mariadb":
        password = section.get("password")
        if password.value is not None:
            source["password"] = password.out
        return
    if not section.has("authType"):
        return
    auth = section.section("authType")
    if set(auth.value) - {"password"}:
        raise section.fail(
            "authType",
            "only basic auth (a password) is supported; IAM, Azure and Cloud SQL auth are not",
        )
    password = auth.get("password")
    if password.value is not None:
        source["password"] = password.out


def _options(kind: str, section: Section, source: dict[str, Any]) -> None:
    for key in ("connectionOptions", "connectionArguments"):
        if not section.has(key):
            continue
        options = section.section(key)
        for name in list(options.value):
            if name.lower().startswith("ssl"):
                raise options.fail(name, "TLS settings are not supported by metaingest's sources")
            if name == "connect_timeout":
                source["connect_timeout"] = options.get(name).out
            elif name == "application_name" and kind == "postgres":
                source["application_name"] = options.get(name).out
            elif name == "program_name" and kind in ("mysql", "mariadb"):
                source["program_name"] = options.get(name).out
        options.warn_rest()


def _ssl(section: Section) -> None:
    if section.has("sslMode"):
        mode = section.get("sslMode").value
        if mode not in _PLAIN_SSL_MODES:
            raise section.fail(
                "sslMode", f"{mode!r} is not supported (metaingest's sources do not set up TLS)"
            )
        if mode == "disable":
            section.warn("sslMode", "'disable': asyncpg negotiates as 'prefer' (TLS if offered)")
    if section.has("sslConfig"):
        raise section.fail("sslConfig", "client certificates and CAs are not supported")


def _schema_only(section: Section, source: dict[str, Any]) -> None:
    value = section.get("databaseSchema")
    if value.value is not None:
        source["_only_schema"] = value.value


def map_connection(kind: str, section: Section, source: dict[str, Any]) -> None:
    """Fill ``source`` from the connection config of ``kind``."""
    section.get("type")
    for key in _OTHER_PIPELINES:
        if section.has(key):
            section.warn(key, "not used by metaingest's metadata extraction; ignored")
    for key in list(section.value):
        if key.startswith("supports"):
            section.get(key)  # capability flags of the service, not settings
        elif key.endswith("FilterPattern"):
            section.warn(key, "set filters in source.sourceConfig.config; this one is ignored")
    _ssl(section)
    if kind == "sqlite":
        mode = section.get("databaseMode", ":memory:")
        if mode.value in (None, "", ":memory:"):
            raise section.fail(
                "databaseMode", "an in-memory SQLite database has no catalog to read; give a file"
            )
        source["path"] = mode.out
        database = section.get("database")
        if database.value is not None:
            source["database"] = database.out
        for key in ("hostPort", "username", "password"):
            if section.has(key):
                section.warn(key, "SQLite files have no server login; ignored")
        _options(kind, section, source)
        section.warn_rest()
        return
    _host_port(section, source, 5432 if kind == "postgres" else 3306)
    username = section.get("username")
    if username.value is not None:
        source["username"] = username.out
    _password(kind, section, source)
    if kind == "postgres":
        database = section.get("database")
        if section.get("ingestAllDatabases", False).value:
            source["maintenance_database"] = database.out
        else:
            source["database"] = database.out
    else:
        name = section.get("databaseName")
        if name.value:
            source["database"] = name.out
        _schema_only(section, source)
    _options(kind, section, source)
    section.warn_rest()
