"""Checks at the start of a run that say what the server's limits and grants will hide.

Each costs a constant number of queries on one pooled connection, and none can fail a run:
a check that cannot be made is logged at debug level and skipped.

- ``capacity_warning``: ``threads`` above what the server accepts now (PostgreSQL:
  ``max_connections`` less ``superuser_reserved_connections`` less the connections in use,
  and the role's CONNECTION LIMIT; MySQL / MariaDB: ``max_connections`` and
  ``max_user_connections``).
- ``connect_denied``: PostgreSQL databases the user may not CONNECT to, which the database
  listing leaves out: the plan lists them as skipped, and a run counts each as a warning.
- ``column_grants``: MySQL / MariaDB tables the user sees through column-level grants only,
  which come out with just the granted columns and no keys: one warning per table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from metaingest.connectors.base import Connector, Unit, table_fqn
from metaingest.connectors.sql import queries
from metaingest.entities import Database
from metaingest.report import Issue

__all__ = ["capacity_warning", "column_grants", "connect_denied"]

log = logging.getLogger(__name__)


def _engine(connector: Connector[Any]) -> str | None:
    source = getattr(connector, "source", None)
    kind = getattr(source, "type", None)
    if kind == "postgres":
        return "postgres"
    if kind in ("mysql", "mariadb"):
        return "mysql"
    return None


async def _fetch(connector: Connector[Any], database: Database, name: str) -> list[Any]:
    engine = _engine(connector)
    sql = queries(f"{engine}_server")[name]
    async with connector.connection(database) as connection:
        if engine == "postgres":
            return list(await connection.fetch(sql))
        async with connection.cursor() as cursor:
            await cursor.execute(sql)
            return list(await cursor.fetchall())


async def capacity_warning(
    connector: Connector[Any], database: Database, threads: int
) -> str | None:
    """A warning when ``threads`` exceeds the connections the server would accept now."""
    engine = _engine(connector)
    if engine is None:
        return None
    source: Any = getattr(connector, "source", None)
    where = f"{source.host}:{source.port}"
    try:
        rows = await _fetch(connector, database, "capacity")
    except Exception as exc:
        log.debug("cannot read the server's connection limits: %s", exc)
        return None
    if not rows:
        return None
    row = rows[0]
    if engine == "postgres":
        # our own discovery connection is in use too, and units will reuse it
        free = row["max_connections"] - row["reserved"] - row["in_use"] + 1
        if threads > free:
            return (
                f"threads {threads} is more than PostgreSQL at {where} accepts now: "
                f"max_connections {row['max_connections']} - superuser_reserved_connections "
                f"{row['reserved']} - {row['in_use']} connections in use leaves {max(free, 0)} "
                "(units beyond that will fail to connect)"
            )
        limit = row["role_limit"]
        if limit >= 0 and threads > limit - row["role_in_use"] + 1:
            return (
                f"threads {threads} is more than role {source.username!r} may open on "
                f"PostgreSQL at {where}: CONNECTION LIMIT {limit}, "
                f"{row['role_in_use']} in use"
            )
        return None
    limits = [("max_connections", int(row["max_connections"]))]
    if int(row["max_user_connections"]) > 0:
        limits.append(("max_user_connections", int(row["max_user_connections"])))
    for name, value in limits:
        if threads > value:
            return (
                f"threads {threads} is more than {source.type} at {where} accepts: "
                f"{name} is {value} (units beyond that will fail to connect)"
            )
    return None


async def connect_denied(connector: Connector[Any]) -> list[Database]:
    """PostgreSQL databases the listing left out for want of the CONNECT privilege."""
    source: Any = getattr(connector, "source", None)
    if _engine(connector) != "postgres" or source.database or source.databases is not None:
        return []  # named databases are connected to, and fail loudly when refused
    # where the listing ran: its connection is idle in the pool
    database = Database(name=source.maintenance_database, service=connector.service_name)
    try:
        rows = await _fetch(connector, database, "connect_denied")
    except Exception as exc:
        log.debug("cannot list the databases without CONNECT privilege: %s", exc)
        return []
    return [Database(name=row["name"], service=connector.service_name) for row in rows]


async def column_grants(
    connector: Connector[Any],
    units: Sequence[Unit],
    table_in_scope: Callable[[str], bool],
) -> list[Issue]:
    """A warning per table of ``units`` that the user sees through column grants only."""
    if _engine(connector) != "mysql" or not units:
        return []
    try:
        rows = await _fetch(connector, units[0].database, "column_grants")
    except Exception as exc:
        log.debug("cannot read the column-level grants: %s", exc)
        return []
    by_schema = {unit.schema.name: unit for unit in units}
    user = getattr(getattr(connector, "source", None), "username", "?")
    issues = []
    for row in rows:
        schema, table = _text(row["schema_name"]), _text(row["table_name"])
        unit = by_schema.get(schema)
        if unit is None or not table_in_scope(table):
            continue
        issues.append(
            Issue(
                level="warning",
                fqn=table_fqn(unit.fqn, table),
                message=f"user {user!r} has column-level grants only on this table: only "
                "the granted columns are visible, and no keys",
            )
        )
    return issues


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
