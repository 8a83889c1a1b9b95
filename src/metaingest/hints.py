"""Hints for a connection failure: which setting (host, port, credentials, database) is wrong.

Read from the driver's exception chain, never from a guess on the message text alone, and
never showing the password. Used by ``test-connection`` and by ``ingest`` alike.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

from metaingest.config import WorkflowConfig

__all__ = ["describe_source", "diagnose", "hint"]

# SQLSTATEs (PostgreSQL) and error numbers (MySQL / MariaDB) that name the cause.
_PG_AUTH = {"28P01": "password", "28000": "user"}
_PG_DATABASE = "3D000"
_MYSQL_AUTH = {1045, 1044, 1698}
_MYSQL_DATABASE = 1049


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def diagnose(exc: BaseException, host: str, port: int | None, user: str | None) -> str | None:
    """Which setting a connection failure points at, as a short hint; None when unclear."""
    where = f"{host}:{port}" if port else host
    for cause in _chain(exc):
        if isinstance(cause, socket.gaierror):
            return f"wrong host? {host!r} cannot be resolved"
        if isinstance(cause, ConnectionRefusedError) or (
            isinstance(cause, OSError) and cause.errno == errno.ECONNREFUSED
        ):
            return f"wrong port? nothing accepts connections at {where}"
        if isinstance(cause, TimeoutError):
            return f"wrong host or port? no answer from {where}"
        if type(cause).__module__.startswith("pymysql"):
            code = cause.args[0] if cause.args else None
            if code in _MYSQL_AUTH:
                return f"wrong password or user? access denied for user {user!r}"
            if code == _MYSQL_DATABASE:
                return "wrong database? it does not exist on the server"
            continue
        sqlstate = getattr(cause, "sqlstate", None)  # asyncpg's exceptions carry it
        if sqlstate in _PG_AUTH:
            return f"wrong {_PG_AUTH[sqlstate]}? authentication failed for user {user!r}"
        if sqlstate == _PG_DATABASE:
            return "wrong database? it does not exist on the server"
    return None


def describe_source(config: WorkflowConfig) -> tuple[str, int | None, str | None, str]:
    """Host (or file), port, user and a label (``postgres at host:port``) of the source."""
    source: Any = config.source
    if source.type == "sqlalchemy":
        return _describe_url(source.url.get_secret_value())
    host = getattr(source, "host", None)
    port = getattr(source, "port", None)
    user = getattr(source, "username", None)
    if host is None:
        where = str(getattr(source, "path", "") or source.type)
        return where, None, user, f"{source.type} {where}"
    return host, port, user, f"{source.type} at {host}:{port}"


def _describe_url(url: str) -> tuple[str, int | None, str | None, str]:
    """The same from a SQLAlchemy URL (never its password)."""
    from sqlalchemy.engine import make_url  # only a sqlalchemy source has a URL

    try:
        parsed = make_url(url)
    except Exception:
        return "sqlalchemy", None, None, "sqlalchemy source"
    driver = parsed.drivername
    if parsed.host is None:
        where = parsed.database or driver
        return where, None, parsed.username, f"sqlalchemy ({driver}) {where}"
    port = parsed.port
    at = f"{parsed.host}:{port}" if port else parsed.host
    return parsed.host, port, parsed.username, f"sqlalchemy ({driver}) at {at}"


def hint(exc: BaseException, config: WorkflowConfig) -> str | None:
    """``diagnose`` for the source of ``config``."""
    host, port, user, _label = describe_source(config)
    return diagnose(exc, host, port, user)
