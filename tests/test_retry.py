"""Error classification (fatal / retriable / skippable), backoff, and secret redaction."""

from __future__ import annotations

import asyncio
import errno
import socket

import aiomysql
import asyncpg
import pymysql
import pytest
import sqlalchemy.exc

from metaingest.config import parse_config
from metaingest.errors import SourceError
from metaingest.redact import Redactor, secrets_of
from metaingest.retry import ConnectionLost, backoff, classify, original


def _caused(outer: BaseException, cause: BaseException) -> BaseException:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), "retriable"),
        (asyncpg.exceptions.TooManyConnectionsError("sorry, too many clients"), "retriable"),
        (asyncpg.exceptions.DeadlockDetectedError("deadlock"), "retriable"),
        (asyncpg.exceptions.SerializationError("could not serialize"), "retriable"),
        (asyncpg.exceptions.LockNotAvailableError("lock"), "retriable"),
        (asyncpg.exceptions.QueryCanceledError("statement timeout"), "retriable"),
        (asyncpg.exceptions.ConnectionDoesNotExistError("closed"), "retriable"),
        (asyncpg.exceptions.InvalidPasswordError("password authentication failed"), "fatal"),
        (asyncpg.exceptions.InvalidCatalogNameError('database "x" does not exist'), "fatal"),
        (asyncpg.exceptions.InsufficientPrivilegeError("permission denied"), "skippable"),
        (asyncpg.exceptions.UndefinedTableError("no table"), "skippable"),
        (pymysql.err.OperationalError(2013, "Lost connection"), "retriable"),
        (pymysql.err.OperationalError(2006, "MySQL server has gone away"), "retriable"),
        (pymysql.err.OperationalError(1040, "Too many connections"), "retriable"),
        (pymysql.err.OperationalError(1927, "Connection was killed"), "retriable"),
        (pymysql.err.OperationalError(1213, "Deadlock found"), "retriable"),
        (pymysql.err.OperationalError(1045, "Access denied"), "fatal"),
        (pymysql.err.OperationalError(1049, "Unknown database"), "fatal"),
        (pymysql.err.ProgrammingError(1146, "Table doesn't exist"), "skippable"),
        (ConnectionResetError("reset"), "retriable"),
        (BrokenPipeError(), "retriable"),
        (TimeoutError(), "retriable"),
        (asyncio.IncompleteReadError(b"", 10), "retriable"),
        (ValueError("bad row"), "skippable"),
        # network and name-resolution failures that may pass: retriable on every connector
        (OSError(errno.EHOSTUNREACH, "No route to host"), "retriable"),
        (OSError(errno.ENETUNREACH, "Network is unreachable"), "retriable"),
        (socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"), "retriable"),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "fatal"),
        (
            _caused(
                pymysql.err.OperationalError(2003, "Can't connect"),
                socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
            ),
            "fatal",
        ),
        (_caused(SourceError("at h:1"), OSError(errno.EHOSTUNREACH, "x")), "retriable"),
        (
            _caused(
                pymysql.err.OperationalError(2003, "Can't connect"),
                OSError(errno.ENETUNREACH, "Network is unreachable"),
            ),
            "retriable",
        ),
        # statement timeouts of MariaDB (max_statement_time) and MySQL (max_execution_time)
        (pymysql.err.OperationalError(1969, "Query execution was interrupted"), "retriable"),
        (pymysql.err.OperationalError(3024, "maximum statement execution time"), "retriable"),
        (aiomysql.OperationalError(1969, "max_statement_time exceeded"), "retriable"),
        (ConnectionLost("connection lost"), "retriable"),
        (_caused(ConnectionLost("lost"), asyncpg.exceptions.InternalClientError("x")), "retriable"),
        (SourceError("PostgreSQL at h:1: database 'x' does not exist"), "fatal"),
        (_caused(SourceError("at h:1"), ConnectionRefusedError("refused")), "retriable"),
        (
            _caused(SourceError("at h:1"), asyncpg.exceptions.InvalidPasswordError("bad")),
            "fatal",
        ),
        (
            sqlalchemy.exc.OperationalError("SELECT 1", {}, pymysql.err.OperationalError(2013)),
            "retriable",
        ),
    ],
)
def test_classify(exc: BaseException, kind: str) -> None:
    assert classify(exc) == kind


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    for attempt, step in ((1, 0.5), (2, 1.0), (3, 2.0), (10, 30.0)):
        delays = [backoff(attempt, 0.5) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays)
        assert len(set(delays)) > 100  # jittered, not fixed


def test_redactor_masks_secrets_and_url_passwords() -> None:
    redact = Redactor(["s3cr3t", "s3"])
    assert redact("password s3cr3t rejected") == "password *** rejected"
    assert redact("mysql+aiomysql://u:other@h/db") == "mysql+aiomysql://u:***@h/db"
    assert redact("no secrets here") == "no secrets here"


def test_secrets_of_a_source() -> None:
    doc = {"type": "postgres", "password": "pw1"}
    config = parse_config({"source": doc, "sink": {"type": "jsonl", "path": "o"}})
    assert secrets_of(config.source) == ["pw1"]
    url = {"type": "sqlalchemy", "url": "postgresql+asyncpg://u:p%40w@h/d"}
    config = parse_config({"source": url, "sink": {"type": "jsonl", "path": "o"}})
    assert secrets_of(config.source) == ["p%40w"]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (asyncpg.exceptions.InvalidCatalogNameError('database "b" does not exist'), "skippable"),
        (pymysql.err.OperationalError(1049, "Unknown database"), "skippable"),
        (
            _caused(SourceError("db b"), asyncpg.exceptions.InvalidCatalogNameError("x")),
            "skippable",
        ),
        (asyncpg.exceptions.InvalidPasswordError("password authentication failed"), "fatal"),
        (pymysql.err.OperationalError(1045, "Access denied"), "fatal"),
        (SourceError("at h:1: bad sslmode"), "fatal"),
        (asyncpg.exceptions.AdminShutdownError("terminating"), "retriable"),
    ],
)
def test_classify_a_unit_after_discovery(exc: BaseException, kind: str) -> None:
    """A database that disappeared is its units' failure; credentials still stop the run."""
    assert classify(exc, unit=True) == kind


def _context(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__context__ = inner
    return outer


def test_original_names_the_first_error_not_the_one_raised_on_the_way_out() -> None:
    killed = asyncpg.exceptions.AdminShutdownError("terminating connection")
    lost = _context(asyncpg.exceptions.ConnectionDoesNotExistError("closed mid-operation"), killed)
    leaving = _context(asyncpg.exceptions.InterfaceError("Transaction.__aexit__(): closed"), lost)
    assert original(leaving) is killed
    wrapped = _caused(ConnectionLost("connection lost"), leaving)
    assert original(wrapped) is killed
    # the driver's coded error, not the socket-level one under it
    eof = asyncio.IncompleteReadError(b"", 4)
    gone = _caused(pymysql.err.OperationalError(2013, "Lost connection"), eof)
    assert original(gone) is gone
    # unclassified: itself
    plain = ValueError("bad row")
    assert original(plain) is plain
    # a SourceError names host and database: kept
    source = _caused(SourceError("PostgreSQL at h:1: refused"), ConnectionRefusedError())
    assert original(source) is source
