"""The publish's hot statements at the driver level: compiled once, tuples in and out.

A run compares and writes thousands of entities. Through SQLAlchemy's execution layer each
row is a dict turned into parameters one by one, each result row a ``Row``, and on SQLite
each statement three or four hand-offs to aiosqlite's thread (cursor, execute, fetch,
close). Here the statements are still SQLAlchemy Core, compiled by the store's own dialect
(its quoting and paramstyle) once per process, and run on the transaction's own driver
connection (``driver_connection``: aiosqlite's or asyncpg's): rows go in as tuples in one
``executemany`` (one hand-off; asyncpg pipelines it; inserts into PostgreSQL are one binary
``COPY``) and come out as tuples. The statements
join the transaction SQLAlchemy opened, so atomicity and the lock are unchanged.

A driver error is raised as SQLAlchemy's ``DBAPIError`` (the driver's exception is its
``orig``), so callers handle both paths alike.
"""

from __future__ import annotations

import json
from functools import cache
from operator import itemgetter
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

from metaingest import cooperative

__all__ = ["Bulk", "any_of"]


def any_of(column: sa.ColumnElement[Any], name: str, sqlite: bool) -> sa.ColumnElement[bool]:
    """``column`` is one of the list bound as ``name``: one parameter, whatever its length.

    PostgreSQL: ``= ANY($1)`` (an array); SQLite: ``IN (SELECT value FROM json_each(?))``
    (the list as JSON). One statement text for any number of values: compiled and prepared
    once, and no limit on the number of variables to chunk around.
    """
    if sqlite:
        values = sa.func.json_each(sa.bindparam(name, type_=sa.Text)).table_valued("value")
        return column.in_(sa.select(values.c.value))
    return column == sa.any_(sa.bindparam(name, type_=sa.ARRAY(sa.Text)))


class _Compiled(NamedTuple):
    sql: str
    names: tuple[str, ...]  # the parameters, in the order the driver takes them
    defaults: dict[str, Any]  # the values of parameters the statement itself binds


_COMPILED: dict[tuple[ClauseElement, str, tuple[str, ...]], _Compiled] = {}


def _compiled(statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...] = ()) -> _Compiled:
    key = (statement, dialect.name, keys)
    found = _COMPILED.get(key)
    if found is None:
        # an INSERT of the table's columns named by ``keys`` (the rows' keys), as
        # Connection.execute(insert, rows) would compile it
        compiled = statement.compile(dialect=dialect, column_keys=list(keys) if keys else None)
        assert isinstance(compiled, SQLCompiler)
        names = tuple(compiled.positiontup or ())
        defaults = {n: v for n, v in compiled.params.items() if not compiled.binds[n].required}
        found = _COMPILED[key] = _Compiled(compiled.string, names, defaults)
    return found


@cache
def _driver_errors(sqlite: bool) -> tuple[type[Exception], ...]:
    if sqlite:
        import sqlite3

        return (sqlite3.Error,)
    import asyncpg

    return (asyncpg.PostgresError, asyncpg.InterfaceError)


class Bulk:
    """The driver connection under one ``AsyncConnection``, for compiled Core statements."""

    def __init__(self, conn: AsyncConnection, driver: Any) -> None:
        self._dialect = conn.dialect
        self.sqlite = conn.dialect.name == "sqlite"
        self._driver = driver

    @classmethod
    async def of(cls, conn: AsyncConnection) -> Bulk:
        """The driver connection of ``conn`` (inside its open transaction)."""
        raw = await conn.get_raw_connection()
        return cls(conn, raw.driver_connection)

    def _list(self, values: list[str]) -> Any:
        return json.dumps(values) if self.sqlite else values

    async def executemany(self, statement: ClauseElement, rows: list[dict[str, Any]]) -> None:
        """Run ``statement`` once per row, in one hand-off; every row has the same keys."""
        if not rows:
            return
        keys = tuple(rows[0]) if isinstance(statement, sa.Insert) else ()
        sql, names, defaults = _compiled(statement, self._dialect, keys)
        # a literal of the statement (``content = ''``), a column set to NULL
        fill = {name: value for name, value in defaults.items() if name not in rows[0]}
        get = itemgetter(*names)
        params: list[Any] = []
        async for chunk in cooperative.chunks(rows):  # 10,000 rows: milliseconds of CPU
            if fill:
                chunk = [fill | row for row in chunk]
            params += [(row[names[0]],) for row in chunk] if len(names) == 1 else map(get, chunk)
        try:
            if self.sqlite or not isinstance(statement, sa.Insert):
                await self._driver.executemany(sql, params)
            else:  # binary COPY: a fifth of executemany's CPU on the client, less on the server
                table = statement.table.name
                await self._driver.copy_records_to_table(table, records=params, columns=names)
        except _driver_errors(self.sqlite) as exc:
            raise sa.exc.DBAPIError(sql, None, exc) from exc

    async def fetch(self, statement: ClauseElement, *args: Any) -> list[tuple[Any, ...]]:
        """The rows of ``statement`` as tuples; a list argument binds an ``any_of`` list."""
        sql = _compiled(statement, self._dialect).sql
        bound = [self._list(a) if isinstance(a, list) else a for a in args]
        try:
            if self.sqlite:
                return list(await self._driver.execute_fetchall(sql, bound))
            return [tuple(row) for row in await self._driver.fetch(sql, *bound)]
        except _driver_errors(self.sqlite) as exc:
            raise sa.exc.DBAPIError(sql, None, exc) from exc
