"""MySQL and MariaDB through aiomysql.

A MySQL "database" is a schema, so, as in OpenMetadata, the connector reports ONE
``Database`` entity named ``source.database`` whose schemas are the server's databases.
Every connection (discovery and units alike) comes from one ``KeyedPool`` of
``source.threads`` connections, each tagged with the ``program_name`` connection attribute.

A schema costs a constant number of ``information_schema`` queries (tables, columns,
constraints, key columns, views, on MariaDB column checks, and partitions where a table is
partitioned; routines and their parameters with ``include_stored_procedures``), whatever its
size. With ``include_owners`` a view's and a routine's owner is its DEFINER (``user@host``);
tables have none.

Column defaults are normalised to one meaning on both engines (see ``normalize_default``):
a literal is the engine's SQL literal (``'abc'``, ``5``, ``b'101'``), an expression is
spelled as the engine prints it (``current_timestamp()``), and no default, or
``DEFAULT NULL``, is None. That is what SQLAlchemy's MariaDB reflection reports too, except
that it appends ``ON UPDATE ...`` to a default and loses BIT defaults (tests/test_mysql.py).
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, Self

import anyio

from metaingest import cooperative
from metaingest.config import MysqlSource
from metaingest.entities import (
    ConstraintType,
    Database,
    DatabaseSchema,
    DataType,
    Table,
    TableType,
    build_fqn,
)
from metaingest.errors import MissingDependencyError, SourceError
from metaingest.lineage.parse import Relation
from metaingest.lineage.resolve import attach_lineage
from metaingest.redact import Redactor
from metaingest.report import Issue

from .base import SchemaBatch, Unit, build_isolated, table_fqn
from .mysql_partitions import partitionings
from .pool import KeyedPool
from .routines_mysql import build_routines
from .sql import queries
from .types import MYSQL_SIZED, mysql_data_type

__all__ = ["MysqlConnector", "normalize_default"]

log = logging.getLogger(__name__)

Row = Mapping[str, Any]

_ROWS_PER_CHUNK = 32  # rows decoded between two chances for the event loop to run (~1-5 ms)
_KEY = "server"  # one pool key: a MySQL connection can read every schema
_SERVER_SHARE = 0.9  # of unit_timeout: the server's bound on one statement
_VIEW = "VIEW"
_PLAIN_TABLE = "BASE TABLE"
_CONSTRAINT_TYPES = {
    "PRIMARY KEY": ConstraintType.PRIMARY_KEY,
    "UNIQUE": ConstraintType.UNIQUE,
    "FOREIGN KEY": ConstraintType.FOREIGN_KEY,
}
_CONSTRAINT_ORDER = {ConstraintType.PRIMARY_KEY: 0, ConstraintType.UNIQUE: 1}
_NUMERIC = frozenset(
    {
        DataType.TINYINT,
        DataType.SMALLINT,
        DataType.INT,
        DataType.BIGINT,
        DataType.DECIMAL,
        DataType.NUMERIC,
        DataType.FLOAT,
        DataType.DOUBLE,
        DataType.YEAR,
        DataType.BIT,
        DataType.BOOLEAN,
    }
)
_CURRENT_TIMESTAMP = re.compile(
    r"^(current_timestamp|now|localtimestamp)\s*(\(\s*\d*\s*\))?$", re.I
)
_MARIADB_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)-MariaDB", re.I)
# MariaDB prefixes its version with 5.5.5- for clients that predate it (the protocol's
# compatibility prefix); the version itself follows
_COMPAT_PREFIX = "5.5.5-"
_ON_UPDATE = re.compile(r"\bon update (\S+(?:\s*\(\s*\d*\s*\))?)", re.I)
_FLOAT_ARGS = re.compile(r"^\w+(?: precision)?\((\d+),(\d+)\)", re.I)
# Every session setting that changes what SHOW and information_schema print, pinned when a
# connection opens: TIMESTAMP defaults follow time_zone; sql_mode's ANSI_QUOTES,
# NO_BACKSLASH_ESCAPES and PIPES_AS_CONCAT would change how the catalog queries and the
# driver's escaping are read
INIT_COMMAND = "SET time_zone = '+00:00', sql_mode = ''"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the connector needs to know about the server it talks to."""

    version: str
    mariadb: tuple[int, int, int] | None

    @classmethod
    def parse(cls, version: str) -> ServerInfo:
        """Read the flavour and version from the server's version string."""
        version = version.removeprefix(_COMPAT_PREFIX)
        match = _MARIADB_VERSION.search(version)
        mariadb = (int(match[1]), int(match[2]), int(match[3])) if match else None
        return cls(version, mariadb)

    @property
    def quotes_defaults(self) -> bool:
        """MariaDB >= 10.2.7 writes defaults as SQL (``'abc'``, ``NULL``); MySQL does not."""
        return self.mariadb is not None and self.mariadb >= (10, 2, 7)


def normalize_default(raw: str | None, data_type: DataType, extra: str, quoted: bool) -> str | None:
    """A column default as one SQL expression on MySQL and MariaDB; None for none or NULL."""
    if raw is None:
        return None
    if quoted:  # MariaDB: already an SQL expression; DEFAULT NULL is the bare text NULL
        return None if raw == "NULL" else raw
    # MySQL: expressions are flagged DEFAULT_GENERATED (CURRENT_TIMESTAMP not before 8.0.13)
    if "DEFAULT_GENERATED" in extra.upper() or _CURRENT_TIMESTAMP.match(raw):
        return raw
    if data_type in _NUMERIC or raw.lower().startswith(("b'", "0x")):
        return raw
    return "'" + raw.replace("\\", "\\\\").replace("'", "''") + "'"


def _text(value: Any) -> str | None:
    """A catalog value as text: some views return bytes for long text columns."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)


def _import_driver() -> Any:
    try:
        import aiomysql
    except ImportError:
        raise MissingDependencyError("aiomysql", "mysql") from None
    return aiomysql


@cache
def _cursor_class(aiomysql: Any) -> Any:
    """An unbuffered DictCursor that keeps server warnings instead of raising Python warnings.

    Unbuffered, so that ``_fetch`` can take a large result a chunk of rows at a time and let
    the event loop run between chunks (a buffered cursor decodes the whole result at once).
    """

    class Cursor(aiomysql.SSDictCursor):  # type: ignore[misc]  # aiomysql is untyped
        server_warnings: list[str]

        async def _show_warnings(self, conn: Any) -> None:
            if self._result and self._result.has_next:
                return
            found = await conn.show_warnings()
            self.server_warnings = [str(w[-1]) for w in found or ()]

        async def read_warnings(self) -> None:
            """Fetch the warnings of a result read to its end (an unbuffered cursor learns
            their count only from the result's last packet)."""
            result = self._result
            if result is not None and result.warning_count:
                await self._show_warnings(self._get_db())

    return Cursor


class MysqlConnector:
    """The MySQL / MariaDB connector; an async context manager."""

    def __init__(self, source: MysqlSource) -> None:
        self._driver = _import_driver()
        self.source = source
        self.service_name = source.service_name
        self._database = Database(name=source.database, service=source.service_name)
        self._pool: KeyedPool[str, Any] = KeyedPool(
            self._open, self._close, size=source.threads, alive=_alive
        )
        self._server: ServerInfo | None = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _where(self) -> str:
        source = self.source
        return f"{source.type} at {source.host}:{source.port} as {source.username!r}"

    def _fatal(self, what: str, exc: BaseException) -> SourceError:
        cause = " ".join(str(exc).split()) or type(exc).__name__
        cause = Redactor.for_source(self.source)(cause)
        return SourceError(f"{what} {self._where()}: {cause}")

    async def _open(self, _key: str) -> Any:
        connection = await self._connect()
        try:
            await self._bound_statements(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    async def _bound_statements(self, connection: Any) -> None:
        """No statement outlives its unit: the server stops it within ``unit_timeout``.

        MariaDB's ``max_statement_time`` (error 1969) covers every statement; MySQL's
        ``max_execution_time`` (error 3024) covers SELECTs, which is all a unit runs. Both
        are retriable. The bound is 90 % of ``unit_timeout``, so a statement stuck on the
        server normally ends with the server's own error, on a connection that stays
        usable, just before the unit's timeout would cancel it from our side.
        """
        timeout = self.source.unit_timeout
        if timeout is None:
            return
        bound = timeout * _SERVER_SHARE
        statement: str
        value: float | int
        if ServerInfo.parse(connection.get_server_info()).mariadb is not None:
            statement, value = "SET SESSION max_statement_time = %s", max(0.001, round(bound, 3))
        else:
            statement, value = "SET SESSION max_execution_time = %s", max(1, round(bound * 1000))
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(statement, (value,))
        except Exception as exc:
            raise self._fatal("cannot set up a session on", exc) from exc

    async def _connect(self) -> Any:
        source = self.source
        try:
            return await self._driver.connect(
                host=source.host,
                port=source.port,
                user=source.username,
                password=source.password.get_secret_value() if source.password else "",
                charset="utf8mb4",
                autocommit=True,
                connect_timeout=source.connect_timeout,
                program_name=source.program_name,
                init_command=INIT_COMMAND,
                cursorclass=_cursor_class(self._driver),
            )
        except Exception as exc:
            raise self._fatal("cannot connect to", exc) from exc

    async def _close(self, connection: Any) -> None:
        await connection.ensure_closed()

    @asynccontextmanager
    async def connection(self, database: Database) -> AsyncIterator[Any]:
        """Lend one pooled connection; every schema is reachable from it.

        A unit cancelled (or timed out) while its query runs has that query's session
        killed on the server, so the server never works on after the unit is gone.
        """
        async with self._pool.acquire(_KEY) as connection:
            try:
                yield connection
            except anyio.get_cancelled_exc_class():
                # a statement may be running: the server would go on with it (it notices a
                # closed client only every few seconds, or when the statement ends); aiomysql
                # closes its end when cancelled mid-read, so the session is killed regardless
                with anyio.CancelScope(shield=True):
                    await self._kill(connection)
                raise

    async def _kill(self, connection: Any) -> None:
        """Kill a session whose query we abandoned, from a side connection in its slot.

        Our end is closed first, so the side connection takes the slot the pool still
        counts for the victim: the pool never has more than ``threads`` sockets open.
        """
        thread_id = connection.thread_id()
        connection.close()
        with anyio.move_on_after(self.source.connect_timeout):
            try:
                side = await self._connect()
            except Exception as exc:
                log.warning("cannot kill session %s: %s", thread_id, exc)
                return
            try:
                async with side.cursor() as cursor:
                    await cursor.execute("KILL CONNECTION %s", (thread_id,))
            except Exception as exc:  # it may have ended on its own meanwhile (1094)
                log.debug("KILL CONNECTION %s: %s", thread_id, exc)
            finally:
                side.close()

    async def _discover(self, schemas: bool) -> list[Row]:
        """Connect (and list the schemas); any failure is fatal and names the server."""
        try:
            async with self._pool.acquire(_KEY) as conn:
                server = self._server = ServerInfo.parse(conn.get_server_info())
                if not schemas:
                    return []
                mariadb = server.mariadb or (0, 0, 0)
                name = "schemas_with_comment" if mariadb >= (10, 5, 0) else "schemas"
                return await _fetch(conn, name)
        except SourceError:
            raise
        except Exception as exc:
            raise self._fatal("cannot read the catalog of", exc) from exc

    async def list_databases(self) -> list[Database]:
        """The one database entity; connects once so that a bad source fails here."""
        await self._discover(schemas=False)
        return [self._database]

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        """The server's databases (MySQL schemas), with MariaDB's schema comments."""
        rows = await self._discover(schemas=True)
        return [
            DatabaseSchema(
                name=str(_text(row["name"])),
                database=database.fqn,
                description=_text(row.get("comment")) or None,
            )
            for row in rows
        ]

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        """One schema in a constant number of information_schema queries."""
        if self._server is None:
            self._server = ServerInfo.parse(connection.get_server_info())
        server = self._server
        schema = unit.schema.name
        names = ["tables", "columns", "constraints", "key_columns", "views"]
        if server.mariadb is not None and server.mariadb >= (10, 3, 10):
            names.append("json_checks")
        if self.source.include_stored_procedures:
            names += ["routines", "routine_parameters"]
        warnings: list[str] = []
        rows: dict[str, list[Row]] = {}
        for name in names:
            # exact (binary) schema matches only: the queries say so themselves
            rows[name] = await _fetch(connection, name, schema, warnings)
        if any("partitioned" in (_text(r.get("create_options")) or "") for r in rows["tables"]):
            rows["partitions"] = await _fetch(connection, "partitions", schema, warnings)
        builder = _Builder(self.service_name, unit, server, list(dict.fromkeys(warnings)))
        builder.owners = self.source.include_owners
        tables = await builder.tables(rows)
        procedures = build_routines(
            unit.fqn,
            rows.get("routines", []),
            rows.get("routine_parameters", []),
            self.source.include_owners,
            _text,
        )
        discovered = len(rows["tables"])
        for fetched in rows.values():  # a large schema's rows are freed in slices
            await cooperative.release(fetched)
        issues = [Issue(level="warning", fqn=unit.fqn, message=m) for m in builder.warnings]
        issues += builder.issues
        batch = SchemaBatch(
            unit.database,
            unit.schema,
            tables,
            tuple(issues),
            discovered=discovered,
            procedures=procedures,
        )
        if not self.source.include_lineage:
            return batch
        fetch = partial(_relation_columns, connection, unit.database)
        return await attach_lineage(batch, dialect="mysql", catalog=None, fetch=fetch)

    def peak_connections(self) -> int:
        """The most connections this connector had open at once."""
        return self._pool.statistics().peak_open

    async def aclose(self) -> None:
        """Close every pooled connection; safe to call more than once."""
        await self._pool.aclose()  # the pool's own aclose is idempotent

    async def server_version(self) -> str:
        """The server's flavour and version string; connects as discovery would."""
        await self._discover(schemas=False)
        assert self._server is not None
        flavour = "MariaDB" if self._server.mariadb is not None else "MySQL"
        return f"{flavour} {self._server.version}"

    async def probe(self, unit: Unit, connection: Any) -> None:
        """Check with one cheap query that the schema's catalog can be read."""
        if not await _fetch(connection, "probe", unit.schema.name):
            raise LookupError(f"schema {unit.schema.name!r} not found")


async def _fetch(
    connection: Any, name: str, schema: str | None = None, warnings: list[str] | None = None
) -> list[Row]:
    """Run one named catalog query with ``schema`` as its every bind parameter."""
    sql = queries("mysql")[name]
    async with connection.cursor() as cursor:
        cursor.server_warnings = []
        await cursor.execute(sql, None if schema is None else (schema,) * sql.count("%s"))
        rows: list[Row] = []
        while chunk := await cursor.fetchmany(_ROWS_PER_CHUNK):
            rows += chunk
            await cooperative.checkpoint()
        await cursor.read_warnings()
        if warnings is not None:
            warnings.extend(cursor.server_warnings)
    return rows


async def _relation_columns(
    connection: Any, database: Database, keys: Sequence[tuple[str, str, str]]
) -> list[Relation]:
    """Columns of relations views read in other schemas: one query per schema they read."""
    by_schema: dict[str, list[str]] = defaultdict(list)
    for _catalog, schema, name in keys:
        by_schema[schema].append(name)
    out: list[Relation] = []
    for schema, names in sorted(by_schema.items()):
        sql = queries("mysql")["relation_columns"].replace(
            "{names}", ", ".join(["%s"] * len(names))
        )
        async with connection.cursor() as cursor:
            await cursor.execute(sql, (schema, schema, *names))
            rows: list[Row] = list(await cursor.fetchall())
        columns: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            columns[str(_text(row["table_name"]))].append(str(_text(row["name"])))
        out.extend(
            Relation(
                build_fqn(database.service, database.name, schema, name),
                None,
                schema,
                name,
                tuple(cols),
            )
            for name, cols in columns.items()
            if name in names  # the binary match information_schema's IN does not make
        )
    return out


async def _alive(connection: Any) -> bool:
    """Whether a connection that saw an error still answers (it is dropped anyway)."""
    if connection.closed:
        return False
    await connection.ping(reconnect=False)
    return True


class _Builder:
    """Turns the rows of one schema's catalog queries into Table entities."""

    def __init__(
        self, service: str, unit: Unit, server: ServerInfo, warnings: Iterable[str] = ()
    ) -> None:
        self.service = service
        self.unit = unit
        self.server = server
        self._quotes_defaults = server.quotes_defaults  # read once, not per column
        self.issues: list[Issue] = []
        self.warnings = list(warnings)  # the server's, not about one object: the schema's
        self._keys: dict[tuple[str, str, bool], list[Row]] = {}
        self.owners = False  # keep views' DEFINERs as owners

    async def tables(self, rows: dict[str, list[Row]]) -> tuple[Table, ...]:
        """The schema's tables in name order; a table that cannot be built is an issue."""
        columns = await _group(rows["columns"])
        visible: dict[str, set[str]] = {}
        for owner, cols in columns.items():
            await cooperative.checkpoint()
            visible[owner] = {str(_text(c["name"])) for c in cols}
        constraints = await self._constraint_rows(rows["constraints"], rows["key_columns"], visible)
        views = {_text(r["table_name"]): _text(r["definition"]) for r in rows["views"]}
        definers = {_text(r["table_name"]): _text(r["definer"]) for r in rows["views"]}
        partition_rows = rows.get("partitions", ())
        primary = await self._primary_keys(constraints) if partition_rows else {}
        partitioned = partitionings(partition_rows, primary)
        json_columns: set[tuple[Any, Any]] = set()
        async for chunk in cooperative.chunks(rows.get("json_checks", [])):
            json_columns.update(
                (_text(r["table_name"]), _text(r["column_name"]))
                for r in chunk
                if _text(r["check_clause"]) == f"json_valid(`{_text(r['column_name'])}`)"
            )
        out: list[Table] = []
        for row in rows["tables"]:
            await cooperative.checkpoint()
            name = str(_text(row["table_name"]))
            fqn = table_fqn(self.unit.fqn, name)
            if name not in columns:  # every MySQL relation has a column: this one is broken
                self._broken(fqn, name, str(_text(row["table_type"])))
                continue
            # each table's rows are let go once it is built, not all at the end
            visible.pop(name, None)
            table_columns, table_constraints = columns.pop(name), constraints.pop(name, [])

            def build(
                row: Row = row,
                name: str = name,
                table_columns: list[Row] = table_columns,
                table_constraints: list[Row] = table_constraints,
            ) -> Table:
                kind = str(_text(row["table_type"]))
                is_view = kind == _VIEW
                partitioning = partitioned.get(name)
                table_type = TableType.Partitioned if partitioning else TableType.Regular
                return Table.model_validate(
                    {
                        "name": name,
                        "database_schema": self.unit.fqn,
                        "table_type": TableType.View if is_view else table_type,
                        "description": None if is_view else (_text(row["comment"]) or None),
                        # field dicts, validated into Column entities by the table's own
                        # validation: one call into pydantic per table, not one per column
                        "columns": [self._column(name, c, json_columns) for c in table_columns],
                        "constraints": self._constraints(table_constraints),
                        "view_definition": (views.get(name) or None) if is_view else None,
                        "engine_table_type": None if kind in (_VIEW, _PLAIN_TABLE) else kind,
                        "owner": definers.get(name) if is_view and self.owners else None,
                        "row_estimate": _int(row.get("row_estimate")),
                        "size_bytes": _int(row.get("size_bytes")),
                        "partitioning": partitioning,
                    }
                )

            table = build_isolated(fqn, build, self.issues)
            if table is not None:
                out.append(table)
        return tuple(await cooperative.sort(out, key=lambda t: t.name))

    def _broken(self, fqn: str, name: str, kind: str) -> None:
        """A relation without visible columns: a warning naming it (with the server's words)."""
        quoted = f"'{self.unit.schema.name}.{name}'"
        mine = [w for w in self.warnings if quoted in w]
        self.warnings = [w for w in self.warnings if quoted not in w]
        what = "view" if kind == _VIEW else "table"
        cause = "; ".join(mine) or "no columns are visible (broken, or not readable by this user)"
        self.issues.append(Issue(level="warning", fqn=fqn, message=f"{what} skipped: {cause}"))

    def _column(self, table: str, row: Row, json_columns: set[tuple[Any, Any]]) -> dict[str, Any]:
        """The fields of one Column, from a row of the columns query."""
        name = str(_text(row["name"]))
        display = str(_text(row["column_type"]))
        data_type = DataType.JSON if (table, name) in json_columns else mysql_data_type(display)
        if data_type is DataType.UNKNOWN:
            fqn = build_fqn(self.service, self.unit.database.name, self.unit.schema.name, table)
            self.issues.append(Issue(level="warning", fqn=fqn, message=f"{name}: type {display}"))
        extra = _text(row["extra"]) or ""
        exact = data_type is DataType.DECIMAL or data_type is DataType.NUMERIC
        on_update = _ON_UPDATE.search(extra)
        precision = scale = None
        if exact:
            precision, scale = _int(row["numeric_precision"]), _int(row["numeric_scale"])
        elif data_type is DataType.FLOAT or data_type is DataType.DOUBLE:
            declared = _FLOAT_ARGS.match(display)  # FLOAT(7,3): only a declared M,D counts
            if declared:
                precision, scale = int(declared[1]), int(declared[2])
        return {
            "name": name,
            "ordinal_position": int(row["ordinal_position"]),
            "data_type": data_type,
            "data_type_display": display,
            "data_length": _int(row["char_length"]) if data_type in MYSQL_SIZED else None,
            "precision": precision,
            "scale": scale,
            "nullable": _text(row["is_nullable"]) == "YES",
            "default": normalize_default(
                _text(row["column_default"]), data_type, extra, self._quotes_defaults
            ),
            "generated": _text(row["generation_expression"]) or None,
            "identity": "AUTO_INCREMENT" if "auto_increment" in extra.lower() else None,
            "description": _text(row["comment"]) or None,
            "on_update": on_update[1] if on_update else None,
            "invisible": True if "INVISIBLE" in extra.upper() else None,
        }

    async def _primary_keys(self, constraints: dict[str, list[Row]]) -> dict[str, tuple[str, ...]]:
        """Each table's primary key columns (KEY () partitioning uses them)."""
        out: dict[str, tuple[str, ...]] = {}
        for table, rows in constraints.items():
            await cooperative.checkpoint()
            for row in rows:
                if _text(row["constraint_type"]) == "PRIMARY KEY":
                    parts = self._keys.get((table, str(_text(row["name"])), False), [])
                    ordered = sorted(parts, key=lambda r: r["ordinal_position"])
                    out[table] = tuple(str(_text(p["column_name"])) for p in ordered)
        return out

    async def _constraint_rows(
        self, constraints: list[Row], key_columns: list[Row], visible: dict[str, set[str]]
    ) -> dict[str, list[Row]]:
        """Constraint rows by table; their key columns are kept for ``_constraints``."""
        keys: dict[tuple[str, str, bool], list[Row]] = defaultdict(list)
        for row in key_columns:
            await cooperative.checkpoint()
            is_fk = row["referred_table"] is not None
            if not is_fk and _text(row["column_name"]) not in visible.get(
                str(_text(row["table_name"])), ()
            ):
                continue  # MariaDB adds the hidden row_end of a system-versioned table to keys
            keys[(str(_text(row["table_name"])), str(_text(row["name"])), is_fk)].append(row)
        self._keys = keys
        out: dict[str, list[Row]] = defaultdict(list)
        for row in constraints:
            await cooperative.checkpoint()
            out[str(_text(row["table_name"]))].append(row)
        return out

    def _constraints(self, constraints: list[Row]) -> list[dict[str, Any]]:
        """One table's constraints: primary key, then unique keys, then foreign keys.

        Field dicts, validated into TableConstraint entities by the table's own validation.
        """
        out: list[dict[str, Any]] = []
        for row in constraints:
            table, name = str(_text(row["table_name"])), str(_text(row["name"]))
            kind = _CONSTRAINT_TYPES[str(_text(row["constraint_type"]))]
            is_fk = kind is ConstraintType.FOREIGN_KEY
            parts = sorted(
                self._keys.pop((table, name, is_fk), []), key=lambda r: r["ordinal_position"]
            )
            if not parts:
                continue  # e.g. a functional unique index: no plain columns to name
            referred: dict[str, Any] = {}
            if is_fk:
                referred = {
                    "referred_table": build_fqn(
                        self.service,
                        self.unit.database.name,
                        str(_text(parts[0]["referred_schema"])),
                        str(_text(parts[0]["referred_table"])),
                    ),
                    "referred_columns": [str(_text(p["referred_column"])) for p in parts],
                }
            out.append(
                {
                    "constraint_type": kind,
                    "columns": [str(_text(p["column_name"])) for p in parts],
                    "name": name,
                    **referred,
                }
            )
        out.sort(key=lambda c: (_CONSTRAINT_ORDER.get(c["constraint_type"], 2), c["name"]))
        return out


async def _group(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Columns by exact table name, in ordinal order."""
    out: dict[str, list[Row]] = defaultdict(list)
    async for chunk in cooperative.chunks(rows):
        for row in chunk:
            out[str(_text(row["table_name"]))].append(row)
    for table_rows in out.values():  # stable: as sorting all rows first, one table at a time
        await cooperative.checkpoint()
        table_rows.sort(key=lambda r: int(r["ordinal_position"]))
    return out


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
