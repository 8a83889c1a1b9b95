"""The ``catalog`` sink: a thin adapter from the Sink protocol to the catalog store.

Every batch is compared with the store as it arrives, inside the run's one locked
transaction; ``aclose(commit=True)`` plans the deletions from the run's scope and commits;
``aclose(commit=False)`` (failure, cancellation, a run below its success threshold) rolls
everything back, publishes and deletes nothing, and records the run as ``discarded``. A
fleet's run is one transaction and one recorded run for all its sources; each service's
deletions follow its own scope, and a service without one (its source failed) keeps all.
"""

from __future__ import annotations

from metaingest.connectors.base import SchemaBatch
from metaingest.errors import SinkError
from metaingest.store.engine import connect_engine, describe
from metaingest.store.publish import Publisher

from .base import RunScope

__all__ = ["CatalogSink"]


class CatalogSink:
    """Publishes runs into the catalog store at ``url`` (see ``metaingest.store``)."""

    scopes_per_service = True  # deletions follow each service's own scope (a fleet)

    def __init__(
        self,
        url: str,
        *,
        lock_timeout: float = 60.0,
        delete_threshold: float = 20.0,
        allow_mass_delete: bool = False,
    ) -> None:
        self.url = url
        self._engine = connect_engine(url)
        self._publisher = Publisher(
            self._engine,
            url,
            lock_timeout=lock_timeout,
            threshold=delete_threshold,
            allow_mass_delete=allow_mass_delete,
        )
        self._closed = False

    def __str__(self) -> str:
        return describe(self.url)

    @property
    def run_id(self) -> int | None:
        """The store's id of this run, once the first batch (or the commit) opened it."""
        return self._publisher.run_id

    async def write(self, batch: SchemaBatch) -> None:
        """Compare one batch with the store; write what changed (visible only at commit)."""
        if self._closed:
            raise SinkError(f"catalog store {self}: sink is closed")
        await self._publisher.write(batch)

    async def set_scope(self, scope: RunScope) -> None:
        """Take a service's scope (once per source read): its deletions follow it at commit."""
        self._publisher.set_scope(scope)

    async def aclose(self, *, commit: bool = False) -> None:
        """Commit the run (deletions included) or discard it; idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            if commit:
                await self._publisher.commit()
            else:
                await self._publisher.discard()
        finally:
            await self._engine.dispose()
