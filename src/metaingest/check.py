"""``test-connection``: connect, read the server version, list what the user can see, and
probe the catalog of every schema a run would extract, with one cheap query each.

A failure to connect becomes one line that says which part of the configuration is
likely wrong — host, port, credentials or database — read from the driver's exception
chain, never from a guess on the message text alone, and never showing the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Console
from rich.table import Table
from rich.text import Text

from metaingest.config import WorkflowConfig
from metaingest.connectors.base import Connector
from metaingest.errors import SourceError
from metaingest.hints import describe_source, diagnose
from metaingest.runner import describe
from metaingest.workflow import Workflow

__all__ = ["CheckResult", "CheckRow", "check_connection", "diagnose", "render_check"]

Status = Literal["ok", "filtered", "skipped", "failed"]


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


async def check_connection(
    config: WorkflowConfig, connector: Connector[Any] | None = None
) -> CheckResult:
    """Connect, list databases and schemas, probe each schema a run would extract."""
    workflow = Workflow(config, connector)
    connector = workflow.connector
    host, port, user, server = describe_source(config)
    result = CheckResult(server=server)
    try:
        async with connector:
            result.version = await connector.server_version()
            plan = await workflow.plan()
            for found in plan.databases:
                if found.skipped_because is not None:
                    status: Status = "skipped" if found.denied else "filtered"
                    result.rows.append(
                        CheckRow(found.database.name, None, status, found.skipped_because)
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
    styles = {"ok": "green", "filtered": "dim", "skipped": "yellow", "failed": "bold red"}
    labels = {
        "ok": "readable",
        "filtered": "filtered",
        "skipped": "no access",
        "failed": "NOT READABLE",
    }
    for row in result.rows:
        table.add_row(
            Text(row.database),
            Text(row.schema if row.schema is not None else "(all)"),
            Text(labels[row.status], style=styles[row.status]),
            Text(row.detail),
        )
    console.print(table)
    needed = [row for row in result.rows if row.status not in ("filtered", "skipped")]
    failed = [row for row in needed if row.status == "failed"]
    skipped = [row for row in result.rows if row.status == "skipped"]
    if skipped:
        console.print(Text(f"{len(skipped)} database(s) skipped: no access", style="yellow"))
    if not needed:
        console.print(Text("no schema passes the filters: a run would extract nothing"))
    elif failed:
        console.print(Text(f"{len(failed)} of {len(needed)} schemas cannot be read", style="red"))
    else:
        console.print(Text(f"ok: all {len(needed)} schemas a run needs are readable"))
