"""The ``metadata-rest`` sink: a thin adapter over ``metaingest.openmetadata``.

``open`` checks the server before the source is read (a wrong URL, TLS problem or refused
token is a ConfigError: exit 2); ``write`` PUTs each batch as it arrives (create-or-update:
an upsert of what was read correctly); ``set_scope`` + ``aclose(commit=True)`` apply
``mark_deleted_*``; ``aclose(commit=False)`` deletes nothing. A fleet (``sources:``) gives
one scope per source that was read: each service's deletions follow its own scope, and a
service without one (its source failed) has nothing deleted. With ``lineage_only`` it sends
the views' lineage at commit and nothing else: no entity PUT, no deletion.
"""

from __future__ import annotations

import logging
from functools import partial

import anyio.to_thread
import httpx

from metaingest.config import MetadataRestSinkConfig, WorkflowConfig
from metaingest.connectors.base import SchemaBatch
from metaingest.errors import SinkError
from metaingest.openmetadata.client import OpenMetadataClient
from metaingest.openmetadata.push import Pusher
from metaingest.report import Report
from metaingest.sinks.base import RunScope

__all__ = ["MetadataRestSink"]

log = logging.getLogger("metaingest.openmetadata")


class MetadataRestSink:
    """Writes entities to an OpenMetadata server's REST API."""

    def __init__(
        self,
        config: MetadataRestSinkConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self._transport = transport
        self.client: OpenMetadataClient | None = None
        self.pusher: Pusher | None = None
        self._scopes: list[RunScope] = []
        self._closed = False

    scopes_per_service = True  # deletions follow each service's own scope (a fleet)

    async def open(self, config: WorkflowConfig, report: Report) -> None:
        """Check the server (``GET /v1/system/version``) before anything is extracted."""
        # in a worker thread: httpx loads the CA bundle into an SSL context (~0.1 s of CPU)
        # and imports httpcore while it builds a client, a stall of the host's loop otherwise
        self.client = await anyio.to_thread.run_sync(
            partial(OpenMetadataClient, self.config, transport=self._transport)
        )
        sources = config.sources or [config.source]
        self.pusher = Pusher(
            self.client,
            self.config,
            source_type=config.source.type,
            settings=config.workflow,
            report=report,
            procedures=config.source.include_stored_procedures,
            services={s.service_name: (s.type, s.include_stored_procedures) for s in sources},
        )
        await self.pusher.start()

    async def write(self, batch: SchemaBatch) -> None:
        """PUT one batch (parents first); refused entities become issues."""
        if self.pusher is None or self._closed:
            raise SinkError(f"{self.config.host_port}: sink is not open")
        await self.pusher.write(batch)

    async def set_scope(self, scope: RunScope) -> None:
        """Keep a service's scope for its deletions at commit (once per source read)."""
        self._scopes.append(scope)

    async def aclose(self, *, commit: bool = False) -> None:
        """On commit, soft-delete what the rules allow; then close the connections."""
        if self._closed:
            return
        self._closed = True
        try:
            if commit and self.pusher is not None and self._scopes:
                await self.pusher.commit(*self._scopes)
        finally:
            if self.client is not None:
                requests = dict(self.client.requests)
                log.info("OpenMetadata requests: %s (retried %d)", requests, self.client.retried)
                await self.client.aclose()
