"""Pydantic models of the workflow file, ``${ENV}`` interpolation, and loading.

A workflow file is YAML with three sections::

    source:   where the catalog comes from (type, connection, threads, filters)
    sink:     where the entities go (type, path)
    workflow: run-wide settings (success threshold)

Everything is validated once, here, at the edge; a bad file becomes one ``ConfigError``
whose message names every bad key (``source.threads: must be >= 1; source.thred: unknown key
(did you mean 'threads'?)``).

String values are interpolated exactly once, when the file is parsed: ``${VAR}`` and
``${VAR:-default}`` read the environment, ``$${`` is a literal ``${`` and ``$$NAME`` a literal
``$NAME``; a bare ``$NAME`` or an unclosed ``${`` is an error (see ``interpolate``). A leading
``~`` in a path key is the user's home folder. Filter regexes that repeat a repetition
(``([a-z]+)*``) are rejected: their matching can take exponential time (see ``regexcheck``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from .configerrors import describe_errors
from .errors import ConfigError
from .executors.settings import ExecutorConfig, LocalExecutorConfig
from .interpolate import check_size, interpolate
from .regexcheck import nested_repetition
from .yamlload import load_yaml

__all__ = [
    "CatalogSinkConfig",
    "FilterPattern",
    "JsonlSinkConfig",
    "MetadataRestSinkConfig",
    "MysqlSource",
    "PostgresSource",
    "SourceConfig",
    "SqlAlchemySource",
    "SqliteSource",
    "WorkflowConfig",
    "WorkflowSettings",
    "load_config",
    "parse_config",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FilterPattern(_Strict):
    """Include/exclude regular expressions, matched with ``re.match`` against a name.

    A name passes when it matches some include (if includes are given) and no exclude.
    ``excludes`` left unset means the source's default excludes (its system schemas);
    an explicit list, even an empty one, replaces them. A pattern that repeats a repeating
    group (``^([a-z_]+)*_old$``) is rejected: its matching can take exponential time; write
    one repetition (``^[a-z_]*_old$``).
    """

    includes: list[str] = Field(default_factory=list, description="Regexes; a name must match one.")
    excludes: list[str] | None = Field(
        default=None,
        description="Regexes; a name matching one is dropped. Unset: the source's defaults.",
    )

    @field_validator("includes", "excludes")
    @classmethod
    def _compile(cls, patterns: list[str] | None) -> list[str] | None:
        for index, pattern in enumerate(patterns or ()):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"[{index}] invalid regex {pattern!r}: {exc}") from None
            if nested_repetition(pattern):
                raise ValueError(
                    f"[{index}] regex {pattern!r} repeats a group that itself repeats, which can"
                    " take exponential time on a name that does not match (write one"
                    " repetition: '^[a-z_]*_old$' for '^([a-z_]+)*_old$')"
                )
        return patterns


class _SourceBase(_Strict):
    service_name: str = Field(
        default="",
        description="Name of the database service; first part of every FQN. Empty: the type.",
    )
    threads: int = Field(
        default=1, ge=1, description="Schemas extracted at once; also the source connection cap."
    )
    include_tables: bool = Field(default=True, description="Emit tables (all non-view kinds).")
    include_views: bool = Field(default=True, description="Emit views and materialized views.")
    database_filter: FilterPattern = Field(
        default_factory=FilterPattern, description="Which databases to ingest, by name."
    )
    schema_filter: FilterPattern = Field(
        default_factory=FilterPattern,
        description="Which schemas to ingest, by name; system schemas are excluded by default.",
    )
    table_filter: FilterPattern = Field(
        default_factory=FilterPattern, description="Which tables and views to emit, by name."
    )
    include_owners: bool = Field(
        default=False,
        description="Read owners: PostgreSQL roles of every object; MySQL view/routine DEFINERs.",
    )
    include_stored_procedures: bool = Field(
        default=True,
        description="Read each schema's functions and procedures (PostgreSQL, MySQL/MariaDB).",
    )
    stored_procedure_filter: FilterPattern = Field(
        default_factory=FilterPattern,
        description="Which stored procedures and functions to emit, by their plain name.",
    )
    include_ddl: bool = Field(
        default=False,
        description="Render each table's CREATE TABLE from what was extracted (no extra query).",
    )
    include_lineage: bool = Field(
        default=False,
        description="Lineage of views: upstream relations and column sources (~0.1 ms of CPU "
        "per view read by metaingest's own reader, 1-12 ms where sqlglot parses; off by "
        "default: +7-16 % CPU on the benchmark catalog).",
    )
    connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for one connection to open."
    )
    unit_timeout: float | None = Field(
        default=None,
        gt=0,
        description="Seconds one schema may take (per attempt); a hung unit times out and retries.",
    )

    @model_validator(mode="after")
    def _default_service_name(self) -> _SourceBase:
        if not self.service_name:
            object.__setattr__(self, "service_name", getattr(self, "type", "source"))
        return self


def _split_url(data: Any, schemes: tuple[str, ...], port: int, with_database: bool = True) -> Any:
    """Turn ``url:`` into host/port/username/password/database fields."""
    if not isinstance(data, dict) or "url" not in data:
        return data
    data = dict(data)
    raw = data.pop("url")
    raw = raw.get_secret_value() if isinstance(raw, SecretStr) else str(raw)
    parts = urlsplit(raw)
    if parts.scheme.split("+")[0] not in schemes:
        raise ValueError(f"url: scheme must be one of {', '.join(schemes)}")
    for key, value in (
        ("host", parts.hostname),
        ("port", parts.port or port),
        ("username", unquote(parts.username) if parts.username else None),
        ("password", unquote(parts.password) if parts.password else None),
        ("database", (parts.path.lstrip("/") or None) if with_database else None),
    ):
        if value is not None and key not in data:
            data[key] = value
    return data


class PostgresSource(_SourceBase):
    """PostgreSQL through asyncpg.

    ``url: postgresql://user:password@host:port/database`` may stand in for the connection
    keys; keys given explicitly win over the URL's parts.
    """

    type: Literal["postgres"] = Field(description="`postgres`")
    host: str = Field(default="127.0.0.1", description="Server host name or address.")
    port: int = Field(default=5432, ge=1, le=65535, description="Server port.")
    username: str | None = Field(default=None, description="Role to connect as.")
    password: SecretStr | None = Field(default=None, description="Password; use ${ENV_VAR}.")
    database: str | None = Field(default=None, description="The one database to ingest.")
    databases: list[str] | None = Field(
        default=None, description="Databases to ingest; with neither, all non-template ones."
    )
    maintenance_database: str = Field(
        default="postgres", description="Where to list databases when none are named."
    )
    application_name: str = Field(
        default="metaingest", description="application_name of every source connection."
    )
    statement_timeout: float | None = Field(
        default=None, gt=0, description="Server-side statement_timeout in seconds, if set."
    )
    lock_timeout: float | None = Field(
        default=5.0,
        gt=0,
        description="Server-side lock_timeout in seconds (null: wait for locks forever); a "
        "catalog query blocked by a lock fails, and its unit is retried, then reported.",
    )

    @model_validator(mode="before")
    @classmethod
    def _url(cls, data: Any) -> Any:
        return _split_url(data, ("postgres", "postgresql"), 5432)

    @model_validator(mode="after")
    def _one_database_key(self) -> PostgresSource:
        if self.database is not None and self.databases is not None:
            raise ValueError("give either database or databases, not both")
        return self


class MysqlSource(_SourceBase):
    """MySQL and MariaDB through aiomysql; each server database is a schema.

    ``url: mysql://user:password@host:port`` may stand in for the connection keys.
    """

    type: Literal["mysql", "mariadb"] = Field(description="`mysql` or `mariadb`")
    host: str = Field(default="127.0.0.1", description="Server host name or address.")
    port: int = Field(default=3306, ge=1, le=65535, description="Server port.")
    username: str = Field(default="root", description="User to connect as.")
    password: SecretStr | None = Field(default=None, description="Password; use ${ENV_VAR}.")
    database: str = Field(
        default="default", description="Name of the one database entity holding the schemas."
    )
    program_name: str = Field(
        default="metaingest", description="program_name connection attribute of every connection."
    )

    @model_validator(mode="before")
    @classmethod
    def _url(cls, data: Any) -> Any:
        return _split_url(data, ("mysql", "mariadb"), 3306, with_database=False)


class SqliteSource(_SourceBase):
    """SQLite files through the standard library, offloaded to worker threads."""

    type: Literal["sqlite"] = Field(description="`sqlite`")
    path: Path = Field(description="The main database file; its schema is `main`.")
    attach: dict[str, Path] = Field(
        default_factory=dict, description="More files, attached as schemas named by the keys."
    )
    database: str | None = Field(
        default=None, description="Name of the database entity; default: the file's stem."
    )

    @field_validator("path")
    @classmethod
    def _home(cls, path: Path) -> Path:
        return path.expanduser()

    @field_validator("attach")
    @classmethod
    def _no_reserved(cls, attach: dict[str, Path]) -> dict[str, Path]:
        for name in attach:
            if name.lower() in ("main", "temp"):
                raise ValueError(f"{name!r} is reserved by SQLite")
        return {name: path.expanduser() for name, path in attach.items()}


class SqlAlchemySource(_SourceBase):
    """Any SQLAlchemy URL: async drivers natively, sync drivers in worker threads."""

    type: Literal["sqlalchemy"] = Field(description="`sqlalchemy`")
    url: SecretStr = Field(description="SQLAlchemy URL, e.g. duckdb:///file.duckdb.")
    database: str | None = Field(
        default=None, description="Name of the database entity; default: from the URL."
    )
    connect_args: dict[str, Any] = Field(
        default_factory=dict, description="Passed to the DBAPI connect call."
    )


SourceConfig = Annotated[
    PostgresSource | MysqlSource | SqliteSource | SqlAlchemySource,
    Field(discriminator="type"),
]


class JsonlSinkConfig(_Strict):
    """One JSON object per line, written to a temporary file and renamed into place."""

    type: Literal["jsonl"] = Field(description="`jsonl`")
    path: Path = Field(description="Target file; written only when the run completes.")
    format: Literal["entities", "openmetadata"] = Field(
        default="entities",
        description="`entities`: metaingest's models; `openmetadata`: Create*Request payloads.",
    )

    @field_validator("path")
    @classmethod
    def _home(cls, path: Path) -> Path:
        return path.expanduser()


class CatalogSinkConfig(_Strict):
    """The catalog store: entities with their history, changes and safe deletions."""

    type: Literal["catalog"] = Field(description="`catalog`")
    url: str = Field(
        default="sqlite+aiosqlite:///metaingest.db",
        description="SQLAlchemy async URL: `sqlite+aiosqlite:///file.db` or "
        "`postgresql+asyncpg://user:${PGPASSWORD}@host/db` (messages never show the password).",
    )
    lock_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a run waits for another run's publish to the same store.",
    )


class MetadataRestSinkConfig(_Strict):
    """An OpenMetadata server's REST API: create-or-update by PUT; soft deletes at commit."""

    type: Literal["metadata-rest"] = Field(description="`metadata-rest`")
    host_port: str = Field(description="The server's API base URL, e.g. http://host:8585/api.")
    jwt_token: SecretStr | None = Field(
        default=None, description="Bearer token (a bot's JWT); use ${ENV_VAR}."
    )
    verify_ssl: Literal["no-ssl", "ignore", "validate"] = Field(
        default="validate",
        description="https: `validate` certificates, or `ignore` them; `no-ssl`: plain http.",
    )
    ca_certificate: Path | None = Field(
        default=None, description="CA bundle (PEM file) to validate the server's certificate."
    )
    concurrency: int = Field(default=8, ge=1, description="Requests in flight at once.")
    timeout: float = Field(default=30.0, gt=0, description="Seconds per request.")
    retries: int = Field(
        default=5, ge=0, description="Retries of a request on 429, 502-504 or a connection error."
    )
    retry_backoff: float = Field(
        default=0.5, gt=0, description="First retry waits about this many seconds; then doubles."
    )
    mark_deleted_tables: bool = Field(
        default=True, description="Soft-delete tables gone from a schema read whole."
    )
    mark_deleted_stored_procedures: bool = Field(
        default=True, description="Soft-delete stored procedures gone from a schema read whole."
    )
    mark_deleted_schemas: bool = Field(
        default=False, description="Soft-delete schemas gone from a database's schema list."
    )
    mark_deleted_databases: bool = Field(
        default=False, description="Soft-delete databases gone from the service's listing."
    )
    lineage_only: bool = Field(
        default=False,
        description="Send views' lineage only (OpenMetadata's lineage pipeline): every id looked "
        "up by FQN on the server; no entity PUT, no deletion (`mark_deleted_*` do not apply). "
        "Needs `include_lineage` and `include_views` on the source.",
    )


SinkConfig = Annotated[
    JsonlSinkConfig | CatalogSinkConfig | MetadataRestSinkConfig, Field(discriminator="type")
]


class WorkflowSettings(_Strict):
    """Run-wide settings."""

    success_threshold: float = Field(
        default=100.0, ge=0, le=100, description="Minimum success percentage for exit code 0."
    )
    strict: bool = Field(default=False, description="Warnings fail the run too (as --strict).")
    retries: int = Field(
        default=3, ge=0, description="Retries of a unit after a transient error (fresh connection)."
    )
    retry_backoff: float = Field(
        default=0.5, gt=0, description="First retry waits about this many seconds; then doubles."
    )
    allow_empty: bool = Field(
        default=False,
        description="A run that finds nothing to extract after filtering succeeds (else exit 1).",
    )
    delete_threshold: float = Field(
        default=20.0,
        ge=0,
        le=100,
        description="Stateful sinks withhold every deletion of a run that would delete more "
        "than this % of the service's live entities.",
    )
    allow_mass_delete: bool = Field(
        default=False, description="Delete even above delete_threshold (as --allow-mass-delete)."
    )
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="With `sources`: source connections open at once over all sources (a "
        "source runs while its `threads` fit in this budget). Unset: no cap beyond each "
        "source's threads.",
    )


class WorkflowConfig(_Strict):
    """A whole workflow file."""

    source: SourceConfig = Field(
        default=None,  # type: ignore[assignment]  # required unless `sources`: checked below
        description="Where the catalog comes from (with `sources`: the first of them).",
    )
    sources: list[SourceConfig] | None = Field(
        default=None,
        min_length=1,
        description="A fleet: several sources in one run, each with its own type, "
        "credentials, filters and threads, into one sink (instead of `source`).",
    )
    sink: SinkConfig = Field(description="Where the entities go.")
    workflow: WorkflowSettings = Field(
        default_factory=WorkflowSettings, description="Run-wide settings."
    )
    executor: ExecutorConfig = Field(
        default_factory=LocalExecutorConfig,
        description="Where units run: `local` (this process) or `dask` (a Dask cluster).",
    )

    @model_validator(mode="after")
    def _one_source_key(self) -> WorkflowConfig:
        if self.sources is None:
            if self.source is None:
                raise ValueError("source: required key is missing (or give sources: a list)")
        elif self.source is None:
            object.__setattr__(self, "source", self.sources[0])
        elif self.source != self.sources[0]:
            raise ValueError("give either source or sources, not both")
        return self

    @model_validator(mode="after")
    def _distinct_services(self) -> WorkflowConfig:
        names = [source.service_name for source in self.sources or ()]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"sources[{index}].service_name: {name!r} is used twice")
        return self

    @model_validator(mode="after")
    def _lineage_to_send(self) -> WorkflowConfig:
        if not getattr(self.sink, "lineage_only", False):
            return self
        sources = self.sources or [self.source]
        for index, source in enumerate(sources):
            where = "source" if self.sources is None else f"sources[{index}]"
            for key in ("include_lineage", "include_views"):
                if not getattr(source, key):
                    raise ValueError(
                        f"{where}.{key}: false leaves sink.lineage_only nothing to send"
                    )
        return self

    def with_threads(self, threads: int) -> WorkflowConfig:
        """A copy with ``source.threads`` replaced, validated like the file."""
        if self.sources is not None:
            raise ConfigError("--threads: not with sources (set threads per source)")
        return self._with("source", "threads", threads)

    def for_source(self, index: int) -> WorkflowConfig:
        """The single-source workflow of ``sources[index]`` (same sink, settings, executor)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        data["source"] = (self.sources or [self.source])[index]
        data["sources"] = None
        return _validate(data)

    def with_strict(self, strict: bool = True) -> WorkflowConfig:
        """A copy with ``workflow.strict`` replaced."""
        return self._with("workflow", "strict", strict)

    def with_allow_mass_delete(self, allow: bool = True) -> WorkflowConfig:
        """A copy with ``workflow.allow_mass_delete`` replaced."""
        return self._with("workflow", "allow_mass_delete", allow)

    def _with(self, section: str, key: str, value: Any) -> WorkflowConfig:
        # Revalidate the models as they are (secrets stay SecretStr): never re-interpolate.
        data: dict[str, Any] = {name: getattr(self, name) for name in type(self).model_fields}
        data[section] = {**dict(data[section]), key: value}
        return _validate(data)


def _validate(data: Any) -> WorkflowConfig:
    try:
        return WorkflowConfig.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        raise ConfigError(describe_errors(WorkflowConfig, errors)) from None


def parse_config(data: Any, env: Mapping[str, str] | None = None) -> WorkflowConfig:
    """Validate a parsed workflow document; ``${VAR}`` is read from ``env`` (os.environ)."""
    if not isinstance(data, dict):
        raise ConfigError("the workflow file must be a mapping with source and sink")
    check_size(data)
    return _validate(interpolate(data, os.environ if env is None else env))


def load_config(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None
) -> WorkflowConfig:
    """Read, interpolate and validate a YAML workflow file."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such file") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    data = load_yaml(text, str(file))
    from .openmetadata.workflow_file import is_workflow_file, load_workflow_file

    if is_workflow_file(data):  # OpenMetadata's own `metadata ingest -c` file
        return load_workflow_file(data, os.environ if env is None else env)
    return parse_config(data, env)
