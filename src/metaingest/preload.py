"""Import what a run will need in a worker thread, before the run starts.

A process's first run imports its driver, its sink's libraries (SQLAlchemy's async engine and
a dialect for the catalog store, httpx for ``metadata-rest``) and sqlglot for view lineage:
0.1-0.3 s of module bodies. On the event loop's thread that is one stall of the host
application; in a worker thread the loop keeps running, since the interpreter hands the GIL
to a waiting thread every switch interval (5 ms).

Best effort: a module that cannot be imported here is left alone, and the code that needs it
raises its own clear error later (a missing optional driver, a bad store URL).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from typing import Any

import anyio.to_thread

__all__ = ["modules_for", "preload"]

_SOURCES = {
    "postgres": ("asyncpg", "metaingest.connectors.postgres"),
    "mysql": ("aiomysql", "metaingest.connectors.mysql"),
    "mariadb": ("aiomysql", "metaingest.connectors.mysql"),
    "sqlite": ("metaingest.connectors.sqlite",),
    "sqlalchemy": ("metaingest.connectors.sqlalchemy",),
}
_SINKS = {
    "catalog": ("metaingest.sinks.catalog",),
    # httpx imports httpcore when a client is built, anyio's sockets at its first request
    "metadata-rest": (
        "httpx",
        "httpcore",
        "anyio._core._sockets",
        "anyio.streams.tls",
        "metaingest.sinks.metadata_rest",
    ),
}


def _url(value: Any) -> str | None:
    secret = getattr(value, "get_secret_value", None)
    text = secret() if secret is not None else value
    return text if isinstance(text, str) else None


def modules_for(config: Any) -> tuple[list[str], list[str]]:
    """(modules, SQLAlchemy URLs whose dialect and driver to load) a run of ``config`` uses."""
    modules: dict[str, None] = {}
    urls: list[str] = []
    sources = config.sources if config.sources is not None else [config.source]
    for source in sources:
        modules.update(dict.fromkeys(_SOURCES.get(source.type, ())))
        if getattr(source, "include_lineage", False):
            modules["metaingest.lineage.resolve"] = None  # sqlglot
        if source.type == "sqlalchemy" and (url := _url(source.url)) is not None:
            urls.append(url)
    modules.update(dict.fromkeys(_SINKS.get(config.sink.type, ())))
    if config.sink.type == "catalog" and (url := _url(config.sink.url)) is not None:
        urls.append(url)
    return list(modules), urls


def _load(modules: Iterable[str], urls: Iterable[str]) -> None:
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # best effort: the run reports it where it matters
            continue
    for url in urls:
        try:
            from sqlalchemy.engine import make_url

            make_url(url).get_dialect().import_dbapi()
        except Exception:  # likewise: a bad URL is the sink's or the source's error
            continue


async def preload(config: Any) -> None:
    """Import, in a worker thread, the modules a run of ``config`` needs and has not loaded."""
    modules, urls = modules_for(config)
    modules = [name for name in modules if name not in sys.modules]
    if modules or urls:
        await anyio.to_thread.run_sync(_load, modules, urls)
