"""A password-bearing config never shows its password: not on stdout or stderr, not in logs
or the report, not in ``repr``/``str`` of the config; and a wrong port or a wrong password
is one line naming the server.

The PostgreSQL server trusts 127.0.0.1 (pg_hba), so a wrong password cannot be rejected
there: PostgreSQL runs with a password that is sent and ignored, MariaDB checks it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from metaingest.config import parse_config

from .clikit import run_cli
from .conftest import MysqlServer, PgServer, free_port, quote_mysql, unique_name

SECRET = "S3cr3t-" + unique_name("")  # what the config carries
RIGHT = "R1ght-" + unique_name("")  # the MariaDB user's real password


@functools.cache
def has_log_file() -> bool:
    return "--log-file" in run_cli("ingest", "--help").stdout


def ingest(tmp_path: Path, source: dict[str, object], debug: bool) -> tuple[int, str, str]:
    """Run the CLI on ``source``; return (exit code, stderr, everything it wrote)."""
    (tmp_path / "f.yaml").write_text(
        yaml.safe_dump({"source": source, "sink": {"type": "jsonl", "path": "out.jsonl"}}),
        encoding="utf-8",
    )
    args = ["ingest", "-c", "f.yaml", "--report", "r.json"]
    if has_log_file():
        args += ["--log-file", "run.log"]
    if debug:
        args.append("--debug")
    result = run_cli(*args, cwd=tmp_path)
    written = [p.read_text(encoding="utf-8") for p in tmp_path.iterdir() if p.name != "f.yaml"]
    return result.returncode, result.stderr, "\n".join([result.stdout, result.stderr, *written])


def assert_no_secret(everything: str) -> None:
    assert SECRET not in everything
    assert RIGHT not in everything


def assert_failed(code: int, stderr: str, everything: str, debug: bool) -> None:
    """No secret anywhere; a traceback with --debug, else exit 2 and one line of error."""
    assert_no_secret(everything)
    if debug:
        assert code != 0 and "Traceback" in stderr
    else:
        assert code == 2
        assert stderr.count("\n") == 1 and stderr.startswith("metaingest: error: ")


@pytest.mark.postgres
@pytest.mark.parametrize("debug", [False, True])
def test_postgres_wrong_port(postgres_server: PgServer, tmp_path: Path, debug: bool) -> None:
    port = free_port()
    source = postgres_server.source("postgres", port=port, password=SECRET)
    code, stderr, everything = ingest(tmp_path, source, debug)
    assert_failed(code, stderr, everything, debug)
    if not debug:
        assert f"127.0.0.1:{port}" in stderr and "refused" in stderr.lower()


@pytest.mark.postgres
@pytest.mark.parametrize("debug", [False, True])
def test_postgres_run_with_password(
    postgres_server: PgServer, pg_database: str, tmp_path: Path, debug: bool
) -> None:
    url = f"postgresql://{postgres_server.user}:{SECRET}@127.0.0.1:{postgres_server.port}"
    source = {"type": "postgres", "url": f"{url}/{pg_database}"}
    code, _stderr, everything = ingest(tmp_path, source, debug)
    assert code == 0, everything
    assert_no_secret(everything)
    assert (tmp_path / "out.jsonl").exists()


@pytest.fixture
def maria_user(mysql_server: MysqlServer) -> Iterator[str]:
    user = unique_name()
    mysql_server.run(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{RIGHT}'")
    try:
        yield user
    finally:
        mysql_server.run(f"DROP USER IF EXISTS '{user}'@'%'")


@pytest.mark.mysql
@pytest.mark.parametrize("debug", [False, True])
def test_mariadb_wrong_password(
    mysql_server: MysqlServer, maria_user: str, tmp_path: Path, debug: bool
) -> None:
    source = mysql_server.source(username=maria_user, password=SECRET)
    code, stderr, everything = ingest(tmp_path, source, debug)
    assert_failed(code, stderr, everything, debug)
    if not debug:
        assert f"127.0.0.1:{mysql_server.port}" in stderr
        assert maria_user in stderr and "Access denied" in stderr


@pytest.mark.mysql
def test_mariadb_wrong_port(mysql_server: MysqlServer, tmp_path: Path) -> None:
    port = free_port()
    code, stderr, everything = ingest(
        tmp_path, mysql_server.source(port=port, password=SECRET), debug=False
    )
    assert_no_secret(everything)
    assert code == 2 and stderr.count("\n") == 1
    assert f"127.0.0.1:{port}" in stderr


@pytest.mark.mysql
def test_mariadb_right_password_debug_logs_stay_clean(
    mysql_server: MysqlServer, maria_user: str, tmp_path: Path
) -> None:
    (schema,) = mysql_server.create_schemas(1)
    try:
        mysql_server.run(
            f"CREATE TABLE {quote_mysql(schema)}.t (a INT)",
            f"GRANT SELECT ON {quote_mysql(schema)}.* TO '{maria_user}'@'%'",
        )
        url = f"mysql://{maria_user}:{RIGHT}@127.0.0.1:{mysql_server.port}"
        source = {"type": "mariadb", "url": url, "schema_filter": {"includes": [f"^{schema}$"]}}
        code, _stderr, everything = ingest(tmp_path, source, debug=True)
    finally:
        mysql_server.drop_schemas([schema])
    assert code == 0, everything
    assert_no_secret(everything)


@pytest.mark.parametrize(
    "source",
    [
        {"type": "postgres", "password": SECRET},
        {"type": "postgres", "url": f"postgresql://u:{SECRET}@h:5432/d"},
        {"type": "mariadb", "password": SECRET},
        {"type": "mysql", "url": f"mysql://u:{SECRET}@h:3306"},
        {"type": "sqlalchemy", "url": f"postgresql+asyncpg://u:{SECRET}@h/d"},
    ],
)
def test_config_objects_never_print_the_password(source: dict[str, str]) -> None:
    config = parse_config({"source": source, "sink": {"type": "jsonl", "path": "o"}})
    for text in (
        repr(config),
        str(config),
        repr(config.source),
        str(config.source),
        config.model_dump_json(),
        str(config.model_dump()),
        repr(config.with_threads(2)),
    ):
        assert SECRET not in text
