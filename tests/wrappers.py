"""A connector that forwards to a real one, for tests that change one method of it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any, Self

from metaingest.connectors.base import Connector, SchemaBatch, Unit
from metaingest.entities import Database, DatabaseSchema


class Delegating:
    """Forwards every ``Connector`` method to ``inner``; a subclass overrides what it changes.

    Entering does not enter ``inner`` (``inner`` connects lazily, on its first call); leaving
    closes it.
    """

    def __init__(self, inner: Connector[Any]) -> None:
        self.inner = inner
        self.service_name = inner.service_name

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.inner.aclose()

    async def list_databases(self) -> list[Database]:
        return await self.inner.list_databases()

    async def list_schemas(self, database: Database) -> list[DatabaseSchema]:
        return await self.inner.list_schemas(database)

    def connection(self, database: Database) -> AbstractAsyncContextManager[Any]:
        return self.inner.connection(database)

    async def extract(self, unit: Unit, connection: Any) -> SchemaBatch:
        return await self.inner.extract(unit, connection)

    def peak_connections(self) -> int:
        return self.inner.peak_connections()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def server_version(self) -> str:
        return await self.inner.server_version()

    async def probe(self, unit: Unit, connection: Any) -> None:
        await self.inner.probe(unit, connection)
