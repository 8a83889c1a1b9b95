"""``test-connection``: connect, read the server version, list what the user can see, and
probe the catalog of every schema a run would extract, with one cheap query each.

A failure to connect becomes one line that says which part of the configuration is
likely wrong — host, port, credentials or database — read from the driver's exception
chain, never from a guess on the message text alone, and never showing the password.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from metaingest.config import WorkflowConfig
from metaingest.connectors.base import Connector
from metaingest.errors import SourceError
from metaingest.runner import describe
from metaingest.workflow import Workflow

__all__ = ["CheckResult", "CheckRow", "check_connection", "diagnose", "render_check"]

Status = Literal["ok", "filtered", "failed"]

# SQLSTATEs (PostgreSQL) and error numbers (MySQL / MariaDB) that name the cause.
_PG_AUTH = {"28P01": "password", "28000": "user"}
_PG_DATABASE = "3D000"
_MYSQL_AUTH = {1045, 1044, 1698}
_MYSQL_DATABASE = 1049


@dataclass(frozen=True, slots=True)
class CheckRow:
    """One database or schema: whether its catalog is readable, or why it is not checked."""

    database: str
    schema: str | None
    status: Status
    detail: str = ""


@dataclass(slots=True)
class CheckResult:
    """What ``test-connection`` found."""

    server: str
    version: str = ""
    rows: list[CheckRow] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the server answered and every schema a run needs is readable."""
        return self.error is None and all(row.status != "failed" for row in self.rows)


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


def _describe_source(config: WorkflowConfig) -> tuple[str, int | None, str | None, str]:
    source: Any = config.source
    host = getattr(source, "host", None)
    port = getattr(source, "port", None)
    user = getattr(source, "username", None)
    if host is None:
        where = str(getattr(source, "path", "") or source.type)
        return where, None, user, f"{source.type} {where}"
    return host, port, user, f"{source.type} at {host}:{port}"


async def check_connection(
    config: WorkflowConfig, connector: Connector[Any] | None = None
) -> CheckResult:
    """Connect, list databases and schemas, probe each schema a run would extract."""
    workflow = Workflow(config, connector)
    connector = workflow.connector
    host, port, user, server = _describe_source(config)
    result = CheckResult(server=server)
    try:
        async with connector:
            result.version = await connector.server_version()
            plan = await workflow.plan()
            for found in plan.databases:
                if found.skipped_because is not None:
                    result.rows.append(
                        CheckRow(found.database.name, None, "filtered", found.skipped_because)
                    )
            for item in plan.units:
                unit = item.unit
                if item.skipped_because is not None:
                    row = CheckRow(
                        unit.database.name, unit.schema.name, "filtered", item.skipped_because
                    )
                else:
                    row = await _probe(workflow, unit)
                result.rows.append(row)
    except SourceError as exc:
        message = workflow.redact(str(exc))
        hint = diagnose(exc, host, port, user)
        result.error = f"{message} ({hint})" if hint else message
    return result


async def _probe(workflow: Workflow, unit: Any) -> CheckRow:
    connector = workflow.connector
    try:
        async with connector.connection(unit.database) as connection:
            await connector.probe(unit, connection)
    except Exception as exc:
        detail = describe(exc, workflow.redact)
        return CheckRow(unit.database.name, unit.schema.name, "failed", detail)
    return CheckRow(unit.database.name, unit.schema.name, "ok")


def render_check(result: CheckResult, console: Console) -> None:
    """The check as a headline and a table: one row per database or schema."""
    if result.error is not None:
        console.print(Text(f"cannot connect: {result.error}", style="red"))
        return
    console.print(Text(f"{result.server}: connected, server version {result.version}"))
    table = Table(show_edge=False, header_style="bold")
    for heading in ("database", "schema", "catalog", "detail"):
        table.add_column(heading)
    styles = {"ok": "green", "filtered": "dim", "failed": "bold red"}
    labels = {"ok": "readable", "filtered": "filtered", "failed": "NOT READABLE"}
    for row in result.rows:
        table.add_row(
            Text(row.database),
            Text(row.schema if row.schema is not None else "(all)"),
            Text(labels[row.status], style=styles[row.status]),
            Text(row.detail),
        )
    console.print(table)
    needed = [row for row in result.rows if row.status != "filtered"]
    failed = [row for row in needed if row.status == "failed"]
    if not needed:
        console.print(Text("no schema passes the filters: a run would extract nothing"))
    elif failed:
        console.print(Text(f"{len(failed)} of {len(needed)} schemas cannot be read", style="red"))
    else:
        console.print(Text(f"ok: all {len(needed)} schemas a run needs are readable"))
