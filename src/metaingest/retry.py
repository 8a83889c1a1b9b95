"""What the runner does with an error: stop the run, retry the unit, or record and go on.

Drivers differ, so errors are classified by what they carry rather than by import: a
PostgreSQL SQLSTATE (asyncpg's ``sqlstate``), a MySQL error number (PyMySQL's ``args[0]``),
or the standard library's connection and timeout errors. The whole ``__cause__`` chain is
read (``__cause__``, ``__context__`` and SQLAlchemy's ``.orig``), so a wrapped driver error
classifies as itself, and an error raised while leaving a transaction on a dead connection
classifies as the error that killed it.

- fatal: the source cannot be used as configured (bad credentials; during discovery, a
  missing database): the run stops and nothing is written;
- retriable: the connection or the server's state got in the way (reset, closed, killed,
  server shutting down, too many connections, deadlock, serialization failure, lock or
  statement timeout, a network or name-resolution failure that may pass): the unit runs
  again on a fresh connection after a backoff;
- skippable: anything else: the unit (or table) is recorded as an error, the run goes on.

Once discovery has succeeded, units are classified with ``unit=True``: a database that
disappeared since belongs to the units that hit it (recorded with their FQN), while bad
credentials and other ``SourceError``s (configuration) still stop the run.

A connector that finds its connection dead after an error (``ConnectionLost``) makes the
unit retriable whatever the driver raised on the way out; ``original`` finds the error that
started it, for the report.
"""

from __future__ import annotations

import errno
import random
import socket
from collections.abc import Iterator
from typing import Literal

import anyio

from metaingest.errors import MetaingestError, SourceError

__all__ = ["ConnectionLost", "Kind", "backoff", "classify", "original"]

Kind = Literal["fatal", "retriable", "skippable"]

# SQLSTATE classes and codes (PostgreSQL appendix A).
_PG_RETRIABLE_CLASSES = ("08",)  # connection exception
_PG_RETRIABLE = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "55P03",  # lock_not_available
        "53300",  # too_many_connections
        "53400",  # configuration_limit_exceeded
        "57P01",  # admin_shutdown (pg_terminate_backend, server stopping)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (starting up)
        "57014",  # query_canceled (statement_timeout)
    }
)
_PG_AUTH = frozenset({"28000", "28P01"})  # bad credentials
_PG_MISSING = frozenset({"3D000"})  # no such database

# MySQL / MariaDB error numbers.
_MYSQL_RETRIABLE = frozenset(
    {
        1040,  # ER_CON_COUNT_ERROR: too many connections
        1053,  # ER_SERVER_SHUTDOWN
        1203,  # ER_TOO_MANY_USER_CONNECTIONS: the server-wide max_user_connections
        1205,  # ER_LOCK_WAIT_TIMEOUT
        1213,  # ER_LOCK_DEADLOCK
        1226,  # ER_USER_LIMIT_REACHED: the account's MAX_USER_CONNECTIONS (or hourly limits)
        1317,  # ER_QUERY_INTERRUPTED
        1927,  # ER_CONNECTION_KILLED (MariaDB)
        1969,  # ER_STATEMENT_TIMEOUT (MariaDB max_statement_time)
        2003,  # CR_CONN_HOST_ERROR: can't connect (mid-run: the server restarts)
        2006,  # CR_SERVER_GONE_ERROR
        2013,  # CR_SERVER_LOST
        2055,  # CR_SERVER_LOST_EXTENDED
        3024,  # ER_QUERY_TIMEOUT (MySQL max_execution_time)
    }
)
_MYSQL_AUTH = frozenset({1044, 1045, 1698})  # access denied
_MYSQL_MISSING = frozenset({1049})  # unknown database

# OSErrors that are not ConnectionError but may pass: the network or a resolver recovers.
_OS_RETRIABLE = frozenset(
    {
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.EHOSTDOWN,
        errno.ETIMEDOUT,
        errno.ENETRESET,
        errno.ECONNABORTED,
    }
)
_DNS_RETRIABLE = frozenset(
    code
    for code in (getattr(socket, "EAI_AGAIN", None), getattr(socket, "EAI_SYSTEM", None))
    if code is not None
)

_CLOSED_WORDS = ("connection is closed", "connection was closed", "connection lost")


class ConnectionLost(MetaingestError):
    """A unit's connection was found dead after an error: retriable, whatever was raised."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)  # sqlalchemy.exc.DBAPIError
        todo.extend([current.__cause__, current.__context__])
        if isinstance(orig, BaseException):
            todo.append(orig)


def _kind_of_one(exc: BaseException, unit: bool) -> Kind | None:
    if isinstance(exc, ConnectionLost):
        return "retriable"
    sqlstate = getattr(exc, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _PG_AUTH:
            return "fatal"
        if sqlstate in _PG_MISSING:
            return "skippable" if unit else "fatal"
        if sqlstate in _PG_RETRIABLE or sqlstate.startswith(_PG_RETRIABLE_CLASSES):
            return "retriable"
    module = type(exc).__module__
    if module.startswith(("pymysql", "aiomysql")) and exc.args and isinstance(exc.args[0], int):
        if exc.args[0] in _MYSQL_AUTH:
            return "fatal"
        if exc.args[0] in _MYSQL_MISSING:
            return "skippable" if unit else "fatal"
        if exc.args[0] in _MYSQL_RETRIABLE:
            return "retriable"
    if isinstance(exc, TimeoutError | ConnectionError | EOFError):
        return "retriable"  # EOFError covers asyncio.IncompleteReadError
    if isinstance(exc, socket.gaierror):
        # a name that does not resolve is configuration (MySQL's 2003 wrapping it too)
        return "retriable" if exc.errno in _DNS_RETRIABLE else "fatal"
    if isinstance(exc, OSError) and exc.errno in _OS_RETRIABLE:
        return "retriable"
    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError):
        return "retriable"
    if module.startswith("asyncpg") and any(w in str(exc).lower() for w in _CLOSED_WORDS):
        return "retriable"
    return None


def classify(exc: BaseException, *, unit: bool = False) -> Kind:
    """Whether ``exc`` stops the run, retries its unit, or is recorded and skipped.

    ``unit``: the error belongs to a unit of a run whose discovery succeeded; a database
    that no longer exists is then the unit's failure, not the run's.
    """
    kinds = {_kind_of_one(e, unit) for e in _chain(exc)}
    if "fatal" in kinds:
        return "fatal"
    if "retriable" in kinds:
        return "retriable"
    if "skippable" not in kinds and any(isinstance(e, SourceError) for e in _chain(exc)):
        return "fatal"
    return "skippable"


def original(exc: BaseException) -> BaseException:
    """The error that started ``exc``: the earliest classified one in its chain, else ``exc``.

    A query on a killed backend raises the server's error; leaving the transaction on the
    dead connection then raises another one (``InterfaceError``, ``InternalClientError``)
    with the first as its context. The report names the first. An error that carries the
    server's code (SQLSTATE, MySQL error number) is preferred to the socket-level error it
    wraps (``IncompleteReadError`` under "Lost connection to MySQL server"). A
    ``SourceError`` on top is kept: it names host and database, and the cause already.
    """
    if isinstance(exc, SourceError):
        return exc
    coded: BaseException | None = None
    found = exc
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if not isinstance(current, ConnectionLost) and _kind_of_one(current, False) is not None:
            found = current
            if _has_code(current):
                coded = current
        orig = getattr(current, "orig", None)
        current = current.__cause__ or current.__context__
        if current is None and isinstance(orig, BaseException):
            current = orig
    return coded or found


def _has_code(exc: BaseException) -> bool:
    if isinstance(getattr(exc, "sqlstate", None), str):
        return True
    module = type(exc).__module__
    return (
        module.startswith(("pymysql", "aiomysql"))
        and bool(exc.args)
        and isinstance(exc.args[0], int)
    )


def backoff(attempt: int, base: float, cap: float = 30.0) -> float:
    """Seconds to wait before retry ``attempt`` (1, 2, ...): exponential, with jitter.

    Half of the exponential step is fixed and half random ("equal jitter"), so retries of
    units that failed together spread out but never come back at once.
    """
    step: float = min(cap, base * 2.0 ** (attempt - 1))
    return step / 2 + random.uniform(0, step / 2)
