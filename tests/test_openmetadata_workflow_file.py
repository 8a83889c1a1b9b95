"""OpenMetadata's workflow file: detection, validation by the official schema, mapping, convert."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import pytest
import yaml

from metaingest.config import MetadataRestSinkConfig, PostgresSource, load_config, parse_config
from metaingest.errors import ConfigError
from metaingest.filters import Filter
from metaingest.openmetadata.convert import convert_file

from .clikit import run_cli

TYPICAL: dict[str, Any] = {
    "source": {
        "type": "postgres",
        "serviceName": "pg_prod",
        "serviceConnection": {
            "config": {
                "type": "Postgres",
                "username": "reader",
                "authType": {"password": "${PGPASSWORD}"},
                "hostPort": "db.internal:5432",
                "database": "sales",
            }
        },
        "sourceConfig": {
            "config": {
                "type": "DatabaseMetadata",
                "threads": 8,
                "markDeletedTables": True,
                "includeViews": True,
                "schemaFilterPattern": {"excludes": ["^tmp_.*"]},
            }
        },
    },
    "sink": {"type": "metadata-rest", "config": {}},
    "workflowConfig": {
        "loggerLevel": "INFO",
        "openMetadataServerConfig": {
            "hostPort": "http://openmetadata:8585/api",
            "authProvider": "openmetadata",
            "securityConfig": {"jwtToken": "${OM_JWT}"},
        },
    },
}
ENV = {"PGPASSWORD": "s3cret", "OM_JWT": "jwt-value"}


def write(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "om.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def variant(**changes: Any) -> dict[str, Any]:
    """TYPICAL with ``changes`` applied at dotted key paths (None deletes the key)."""
    doc = copy.deepcopy(TYPICAL)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return doc


CONN = "source__serviceConnection__config"
PIPE = "source__sourceConfig__config"
SERVER = "workflowConfig__openMetadataServerConfig"


def test_the_issue_example_maps_onto_the_native_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, TYPICAL), env=ENV)
    source, sink = config.source, config.sink
    assert isinstance(source, PostgresSource) and isinstance(sink, MetadataRestSinkConfig)
    assert (source.service_name, source.host, source.port) == ("pg_prod", "db.internal", 5432)
    assert (source.username, source.database, source.threads) == ("reader", "sales", 8)
    assert source.password is not None and source.password.get_secret_value() == "s3cret"
    assert sink.host_port == "http://openmetadata:8585/api"
    assert sink.jwt_token is not None and sink.jwt_token.get_secret_value() == "jwt-value"
    assert sink.mark_deleted_tables and source.include_views
    schemas = Filter.from_config(source.schema_filter)
    # OpenMetadata's semantics: re.match, case-insensitive; the system schemas stay excluded
    assert not schemas("tmp_x") and not schemas("TMP_X") and not schemas("pg_catalog")
    assert schemas("public") and schemas("x_tmp_")


def test_an_invalid_file_is_one_line_naming_the_key_path(tmp_path: Path) -> None:
    cases = {
        f"{PIPE}__threads": ("eight", "source.sourceConfig.config.threads: 'eight' is not of type"),
        f"{CONN}__hostPort": (
            5432,
            "source.serviceConnection.config.hostPort: 5432 is not of type",
        ),
        f"{CONN}__bogus": (1, "source.serviceConnection.config: unknown key ('bogus' was"),
        f"{SERVER}__verifySSL": (
            "maybe",
            "workflowConfig.openMetadataServerConfig.verifySSL: 'maybe'",
        ),
        f"{PIPE}__schemaFilterPattern": (
            {"exclude": ["x"]},
            "source.sourceConfig.config.schemaFilterPattern: unknown key ('exclude' was",
        ),
    }
    for dotted, (value, expected) in cases.items():
        with pytest.raises(ConfigError) as caught:
            load_config(write(tmp_path, variant(**{dotted: value})), env=ENV)
        assert str(caught.value).startswith(expected), str(caught.value)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({f"{CONN}__authType": {"awsConfig": {"awsRegion": "x"}}}, "authType: only basic auth"),
        ({f"{CONN}__sslMode": "require"}, "sslMode: 'require' is not supported"),
        ({f"{CONN}__connectionOptions": {"sslmode": "verify-full"}}, "sslmode: TLS settings"),
        ({f"{PIPE}__useFqnForFiltering": True}, "useFqnForFiltering: filtering on fully"),
        ({"source__type": "snowflake"}, "source.type: metaingest reads postgres"),
        ({f"{PIPE}__type": "DatabaseUsage"}, "source.sourceConfig.config.type: metaingest runs"),
        ({f"{SERVER}__authProvider": "okta"}, "authProvider: 'okta' is not supported"),
        ({f"{SERVER}__securityConfig": None}, "securityConfig.jwtToken: required"),
        ({"sink__type": "file"}, "sink.type: metaingest writes to metadata-rest only"),
        ({"source__serviceConnection": None}, "source.serviceConnection.config: required"),
    ],
)
def test_what_cannot_be_ignored_safely_is_an_error(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(".", r"\.")):
        load_config(write(tmp_path, variant(**changes)), env=ENV)


def test_keys_not_implemented_are_warnings_naming_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = variant(
        **{
            f"{PIPE}__includeTags": True,
            f"{PIPE}__overrideMetadata": True,
            f"{PIPE}__queryLogDuration": 3,
            f"{CONN}__scheme": "postgresql+psycopg2",
            f"{CONN}__connectionArguments": {"keepalives": "1"},
            f"{SERVER}__extraHeaders": {"X-A": "b"},
            "workflowConfig__raiseOnError": False,
        }
    )
    with caplog.at_level(logging.WARNING, logger="metaingest.openmetadata"):
        load_config(write(tmp_path, doc), env=ENV)
    warned = {r.getMessage().split(":")[0] for r in caplog.records}
    assert warned == {
        "source.sourceConfig.config.includeTags",
        "source.sourceConfig.config.overrideMetadata",
        "source.sourceConfig.config.queryLogDuration",
        "source.serviceConnection.config.scheme",
        "source.serviceConnection.config.connectionArguments.keepalives",
        "workflowConfig.openMetadataServerConfig.extraHeaders",
        "workflowConfig.raiseOnError",
        "workflowConfig.loggerLevel",
    }


def test_every_mapped_key_lands_where_the_table_says(tmp_path: Path) -> None:
    doc = variant(
        **{
            f"{CONN}__database": "postgres",
            f"{CONN}__ingestAllDatabases": True,
            f"{CONN}__connectionOptions": {"application_name": "om", "connect_timeout": "7"},
            f"{PIPE}__includeTables": False,
            f"{PIPE}__includeOwners": True,
            f"{PIPE}__includeStoredProcedures": False,
            f"{PIPE}__includeDDL": True,
            f"{PIPE}__markDeletedSchemas": True,
            f"{PIPE}__markDeletedDatabases": True,
            f"{PIPE}__markDeletedStoredProcedures": False,
            f"{PIPE}__databaseFilterPattern": {"includes": ["^sales"], "excludes": [".*_old$"]},
            f"{PIPE}__tableFilterPattern": {"includes": ["^fact_"]},
            f"{PIPE}__storedProcedureFilterPattern": {"excludes": ["^tmp"]},
            f"{SERVER}__verifySSL": "validate",
            f"{SERVER}__sslConfig": {"caCertificate": "/etc/ssl/om.pem"},
            "workflowConfig__successThreshold": 90,
        }
    )
    config = load_config(write(tmp_path, doc), env=ENV)
    source, sink = config.source, config.sink
    assert isinstance(source, PostgresSource) and isinstance(sink, MetadataRestSinkConfig)
    assert source.database is None and source.databases is None  # every database
    assert source.maintenance_database == "postgres"
    assert (source.application_name, source.connect_timeout) == ("om", 7.0)
    assert (source.include_tables, source.include_owners) == (False, True)
    assert (source.include_stored_procedures, source.include_ddl) == (False, True)
    assert (sink.mark_deleted_schemas, sink.mark_deleted_databases) == (True, True)
    assert not sink.mark_deleted_stored_procedures
    assert (sink.verify_ssl, str(sink.ca_certificate)) == ("validate", "/etc/ssl/om.pem")
    assert config.workflow.success_threshold == 90
    databases = Filter.from_config(source.database_filter)
    # includes, then excludes (OpenMetadata >= 1.5), case-insensitive
    assert databases("SALES_eu") and not databases("sales_old") and not databases("hr")
    tables = Filter.from_config(source.table_filter)
    assert tables("Fact_orders") and not tables("dim_x")
    assert not Filter.from_config(source.stored_procedure_filter)("TMP_proc")


def test_mysql_mariadb_and_sqlite_connections_map(tmp_path: Path) -> None:
    mysql = variant(
        source__type="mysql",
        **{
            CONN: {
                "type": "Mysql",
                "username": "root",
                "authType": {"password": "pw"},
                "hostPort": "[::1]:3307",
                "databaseName": "warehouse",
                "databaseSchema": "shop.eu",
            }
        },
    )
    config = load_config(write(tmp_path, mysql), env=ENV)
    source = config.source
    assert source.type == "mysql"
    assert (source.host, source.port, source.database) == ("::1", 3307, "warehouse")  # type: ignore[union-attr]
    only = Filter.from_config(source.schema_filter)
    assert only("shop.eu") and not only("shopXeu") and not only("other")
    maria = variant(
        source__type="mariadb",
        **{CONN: {"type": "MariaDB", "username": "u", "password": "p", "hostPort": "h"}},
    )
    source = load_config(write(tmp_path, maria), env=ENV).source
    assert (source.type, source.port, source.password.get_secret_value()) == ("mariadb", 3306, "p")  # type: ignore[union-attr]
    sqlite = variant(
        source__type="sqlite",
        **{CONN: {"type": "SQLite", "databaseMode": str(tmp_path / "a.db"), "database": "main_db"}},
    )
    source = load_config(write(tmp_path, sqlite), env=ENV).source
    assert (source.type, str(source.path), source.database) == (  # type: ignore[union-attr]
        "sqlite",
        str(tmp_path / "a.db"),
        "main_db",
    )


def test_convert_keeps_references_and_loads_as_a_native_file(tmp_path: Path) -> None:
    text, warnings = convert_file(write(tmp_path, TYPICAL))
    assert "${PGPASSWORD}" in text and "${OM_JWT}" in text
    assert "s3cret" not in text and "jwt-value" not in text
    assert warnings == ["workflowConfig.loggerLevel: use --log-level; ignored"]
    native = yaml.safe_load(text)
    assert native["sink"]["type"] == "metadata-rest"
    config = parse_config(native, env=ENV)
    assert config == load_config(write(tmp_path, TYPICAL), env=ENV)


def test_cli_convert_and_validate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, TYPICAL)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    result = run_cli("validate", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{path}: ok (postgres source, metadata-rest sink)"
    result = run_cli("convert", str(path))
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load(result.stdout)["source"]["password"] == "${PGPASSWORD}"
    assert "loggerLevel" in result.stderr
    bad = write(tmp_path, variant(**{f"{PIPE}__threads": -1}))
    result = run_cli("validate", "-c", str(bad))
    assert result.returncode == 2
    # valid for OpenMetadata's schema (no minimum there), refused by metaingest's own config,
    # and named by the key the user wrote
    assert result.stderr.strip().splitlines()[-1] == (
        "metaingest: error: source.sourceConfig.config.threads: must be >= 1"
    )


def lineage_file(**pipeline: Any) -> dict[str, Any]:
    """TYPICAL as a DatabaseLineage file: its sourceConfig.config is ``pipeline`` (None drops)."""
    config = {"type": "DatabaseLineage", **pipeline}
    return variant(**{PIPE: {k: v for k, v in config.items() if v is not None}})


QUIET = {"processQueryLineage": False, "processStoredProcedureLineage": False}


def test_a_lineage_pipeline_is_a_lineage_only_run_of_the_same_source(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = lineage_file(threads=4, schemaFilterPattern={"excludes": ["^tmp_"]}, **QUIET)
    with caplog.at_level(logging.WARNING, logger="metaingest.openmetadata"):
        config = load_config(write(tmp_path, doc), env=ENV)
    # nothing left over but the loggerLevel TYPICAL sets
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["workflowConfig.loggerLevel"]
    source, sink = config.source, config.sink
    assert isinstance(source, PostgresSource) and isinstance(sink, MetadataRestSinkConfig)
    assert (source.service_name, source.database, source.threads) == ("pg_prod", "sales", 4)
    assert source.include_lineage and source.include_views  # processViewLineage: true by default
    assert not source.include_stored_procedures  # nothing in a lineage run reads them
    assert sink.lineage_only
    assert sink.host_port == "http://openmetadata:8585/api"
    schemas = Filter.from_config(source.schema_filter)
    assert not schemas("TMP_x") and not schemas("pg_catalog") and schemas("public")
    # the metadata pipeline is unchanged: no lineage, every entity
    metadata = load_config(write(tmp_path, TYPICAL), env=ENV)
    assert not metadata.source.include_lineage
    assert isinstance(metadata.sink, MetadataRestSinkConfig) and not metadata.sink.lineage_only


@pytest.mark.parametrize(
    ("pipeline", "expected"),
    [
        (
            {"processViewLineage": False},
            "source.sourceConfig.config.processViewLineage: false leaves nothing to run",
        ),
        (
            {"processViewLineage": False, "processQueryLineage": True},
            "source.sourceConfig.config.processViewLineage: false leaves nothing to run",
        ),
        (
            {"overrideViewLineage": True},
            "source.sourceConfig.config.overrideViewLineage: true is not implemented",
        ),
        # the metadata pipeline's keys are not the lineage pipeline's: its schema refuses them
        (
            {"markDeletedTables": True},
            "source.sourceConfig.config: unknown key ('markDeletedTables' was unexpected)",
        ),
        ({"threads": 0}, "source.sourceConfig.config.threads: 0 is less than the minimum of 1"),
    ],
)
def test_a_lineage_file_with_nothing_to_run_or_an_unsafe_key_is_one_line(
    tmp_path: Path, pipeline: dict[str, Any], expected: str
) -> None:
    path = write(tmp_path, lineage_file(**pipeline))
    with pytest.raises(ConfigError) as caught:
        load_config(path, env=ENV)
    assert str(caught.value).startswith(expected), str(caught.value)
    assert "\n" not in str(caught.value)


def test_lineage_keys_not_implemented_are_warnings_naming_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    doc = lineage_file(
        processStoredProcedureLineage=True,  # processQueryLineage unset: true by default
        queryLogDuration=3,
        resultLimit=50,
        filterCondition="query_text NOT LIKE '%tmp%'",
        parsingTimeoutLimit=10,
        queryParserConfig={"type": "SqlFluff"},
        processCrossDatabaseLineage=True,
        crossDatabaseServiceNames=["other"],
        incrementalLineageProcessing=True,
        storedProcedureFilterPattern={"includes": ["^load_"]},
        # what metaingest does anyway: accepted quietly
        overrideViewLineage=False,
        enableTempTableLineage=False,
        processViewLineage=True,
    )
    with caplog.at_level(logging.WARNING, logger="metaingest.openmetadata"):
        config = load_config(write(tmp_path, doc), env=ENV)
    messages = {r.getMessage().split(": ", 1)[0]: r.getMessage() for r in caplog.records}
    where = "source.sourceConfig.config."
    assert set(messages) == {
        *(
            where + key
            for key in (
                "processQueryLineage",
                "processStoredProcedureLineage",
                "queryLogDuration",
                "resultLimit",
                "filterCondition",
                "parsingTimeoutLimit",
                "queryParserConfig",
                "processCrossDatabaseLineage",
                "crossDatabaseServiceNames",
                "incrementalLineageProcessing",
                "storedProcedureFilterPattern",
            )
        ),
        "workflowConfig.loggerLevel",
    }
    assert "(true by default)" in messages[where + "processQueryLineage"]
    assert "(true by default)" not in messages[where + "processStoredProcedureLineage"]
    assert config.source.stored_procedure_filter.includes == []  # not mapped: nothing reads it


def test_cli_validate_and_convert_a_lineage_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, lineage_file(**QUIET))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    result = run_cli("validate", "-c", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"{path}: ok (postgres source, metadata-rest sink: lineage only)"
    )
    result = run_cli("convert", str(path))
    assert result.returncode == 0, result.stderr
    native = yaml.safe_load(result.stdout)
    assert native["source"]["include_lineage"] is True
    assert native["sink"]["lineage_only"] is True
    assert "mark_deleted_tables" not in native["sink"]
    assert parse_config(native, env=ENV) == load_config(path, env=ENV)
    result = run_cli("validate", "-c", str(write(tmp_path, lineage_file(processViewLineage=False))))
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            "metaingest: error: source.sourceConfig.config.processViewLineage: false leaves nothing"
        )
    )
