"""Helpers for the catalog store tests: configs with a catalog sink, and reading changes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio

from metaingest.config import WorkflowConfig, parse_config
from metaingest.store import Change, open_store

from .conftest import PgServer, unique_name


def sqlite_url(path: Path) -> str:
    """A SQLAlchemy async URL for a SQLite store file."""
    return f"sqlite+aiosqlite:///{path}"


def pg_url(server: PgServer, database: str) -> str:
    """A SQLAlchemy async URL for a store in a PostgreSQL database."""
    return f"postgresql+asyncpg://{server.user}@{server.host}:{server.port}/{database}"


def store_config(
    source: dict[str, Any], url: str, *, lock_timeout: float = 30, **workflow: Any
) -> WorkflowConfig:
    """A workflow config publishing into the catalog store at ``url``."""
    settings = {"retry_backoff": 0.05, "retries": 0, **workflow}
    sink = {"type": "catalog", "url": url, "lock_timeout": lock_timeout}
    return parse_config({"source": source, "sink": sink, "workflow": settings})


async def changes_of(url: str, **options: Any) -> list[Change]:
    """The changes of the store's last published run (or as ``options`` select)."""
    async with await open_store(url) as store:
        return await store.changes(**options)


def summary(changes: list[Change], prefix: str) -> set[tuple[str, str]]:
    """{(fqn without ``prefix``, change)} for comparing a run's changes exactly."""
    return {(c.fqn.removeprefix(prefix), c.change) for c in changes}


def field_names(change: Change) -> dict[str, list[str]]:
    """The names of a change's fields, by added / updated / deleted."""
    return {
        "added": [f.name for f in change.fields.added],
        "updated": [f.name for f in change.fields.updated],
        "deleted": [f.name for f in change.fields.deleted],
    }


def pg_store_database(server: PgServer) -> str:
    """A fresh PostgreSQL database to hold a store (the caller drops it)."""
    name = unique_name("mi_test_store_")
    server.run("postgres", f'CREATE DATABASE "{name}"')
    return name


async def sleep_a_little() -> None:
    """Let a concurrent task reach its next await."""
    await anyio.sleep(0.05)
