"""Helpers for fleet and Dask tests: small catalogs, a shared cluster, server-side samplers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from .conftest import MysqlServer, PgServer
from .faultkit import pg_execute


def pg_catalog(server: PgServer, schemas: int, tables: int) -> str:
    """A fresh PostgreSQL database with ``schemas`` schemas of ``tables`` related tables."""
    statements = []
    for s in range(schemas):
        statements.append(f"CREATE SCHEMA s{s:02d}")
        for t in range(tables):
            statements.append(
                f"CREATE TABLE s{s:02d}.t{t} (id integer PRIMARY KEY, name text, "
                f"parent integer REFERENCES s{s:02d}.t{t} (id))"
            )
        statements.append(f"CREATE VIEW s{s:02d}.v AS SELECT id, name FROM s{s:02d}.t0")
    name = server.create_database()
    try:
        anyio.run(pg_execute, server, name, ";\n".join(statements))
    except BaseException:
        server.drop_database(name)
        raise
    return name


def mysql_catalog(server: MysqlServer, schemas: int) -> list[str]:
    """``schemas`` fresh MariaDB schemas, each with two related tables and a view."""
    names = server.create_schemas(schemas)
    statements: list[str] = []
    for name in names:
        statements += [
            f"CREATE TABLE `{name}`.parent (id INT PRIMARY KEY, label VARCHAR(20) UNIQUE)",
            f"CREATE TABLE `{name}`.child (id INT PRIMARY KEY, parent_id INT, note TEXT"
            f" COMMENT 'note', FOREIGN KEY (parent_id) REFERENCES `{name}`.parent (id))",
            f"CREATE VIEW `{name}`.v AS SELECT id, label FROM `{name}`.parent",
        ]
    try:
        server.run(*statements)
    except BaseException:
        server.drop_schemas(names)
        raise
    return names


class Sampler:
    """Counts a run's connections as the server lists them, on its own thread, every ~2 ms."""

    def __init__(self, count: Any) -> None:
        self._count = count  # () -> dict[label, connections]
        self.peaks: dict[str, int] = {}
        self.samples = 0
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        window: dict[str, list[frozenset[int]]] = {}
        try:
            for counts in self._count(self._stop):
                for label, value in counts.items():
                    if isinstance(value, frozenset):  # session ids (``mysql_sessions``)
                        last = window.setdefault(label, [])
                        last.append(value)
                        del last[:-STEADY_SAMPLES]
                        value = len(frozenset.intersection(*last))
                    self.peaks[label] = max(self.peaks.get(label, 0), value)
                self.samples += 1
                self._ready.set()
                time.sleep(0.002)
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()

    @contextmanager
    def running(self) -> Iterator[Sampler]:
        thread = threading.Thread(target=self.run, daemon=True)
        thread.start()
        self._ready.wait(10)
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(10)
        assert self.error is None, self.error


def pg_counter(server: PgServer, names: list[str]) -> Any:
    """A sampler feed: connections per application_name in ``names``, from pg_stat_activity."""

    def feed(stop: threading.Event) -> Iterator[dict[str, int]]:
        import asyncpg

        loop = asyncio.new_event_loop()
        try:
            conn = loop.run_until_complete(
                asyncpg.connect(
                    host=server.host, port=server.port, user=server.user, database="postgres"
                )
            )
            try:
                while not stop.is_set():
                    rows = loop.run_until_complete(
                        conn.fetch(
                            "SELECT application_name, count(*) FROM pg_stat_activity"
                            " WHERE application_name = ANY($1::text[])"
                            " GROUP BY application_name",
                            names,
                        )
                    )
                    found = {str(r[0]): int(r[1]) for r in rows}
                    counts = {name: found.get(name, 0) for name in names}
                    yield {**counts, "total": sum(counts.values())}
            finally:
                loop.run_until_complete(conn.close())
        finally:
            loop.close()

    return feed


# A session the client has quit stays listed until the server has torn it down: a few ms,
# more on a loaded machine. ``mysql_sessions`` counts a session only while it is listed in
# this many consecutive samples (~3 ms apart), so a finished unit's session lingering beside
# the next unit's is not two at once; two units really running together overlap for their
# whole length (tens of ms), far longer than this window.
STEADY_SAMPLES = 4


def mysql_sessions(server: MysqlServer, users: list[str]) -> Any:
    """A sampler feed: per user in ``users`` the ids of its sessions, from PROCESSLIST; the
    sampler counts those listed in ``STEADY_SAMPLES`` consecutive samples."""

    def feed(stop: threading.Event) -> Iterator[dict[str, frozenset[int]]]:
        conn = server.connect()
        try:
            with conn.cursor() as cur:
                while not stop.is_set():
                    cur.execute("SELECT USER, ID FROM information_schema.PROCESSLIST")
                    ids: dict[str, set[int]] = {user: set() for user in users}
                    for user, session in cur.fetchall():
                        if str(user) in ids:
                            ids[str(user)].add(int(session))
                    yield {user: frozenset(found) for user, found in ids.items()}
        finally:
            conn.close()

    return feed


def mysql_wait_gone(server: MysqlServer, user: str, within: float = 5.0) -> int:
    """Wait until the server lists no session of ``user`` (a client's quit is processed by
    the server after the client returns); the sessions still listed after ``within`` s."""
    conn = server.connect()
    try:
        deadline = time.monotonic() + within
        with conn.cursor() as cur:
            while True:
                cur.execute(
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = %s", (user,)
                )
                (count,) = cur.fetchone()
                if count == 0 or time.monotonic() > deadline:
                    return int(count)
                time.sleep(0.01)
    finally:
        conn.close()
