"""An async client for OpenMetadata's REST API (``/api/v1``), on httpx.

One ``httpx.AsyncClient`` (keep-alive connections, at most ``concurrency`` of them), bearer
auth, TLS verification per ``verify_ssl`` / ``ca_certificate``, a timeout per request.
Requests are retried with jittered exponential backoff on 429 (``Retry-After`` honoured),
502, 503, 504 and connection errors; any other 4xx/5xx is an ``ApiError`` carrying the
status and the server's message, for the caller to record against an entity's FQN.
The transport is injectable (``transport=``) so tests can hand in their own.
"""

from __future__ import annotations

import json
import random
import ssl
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
import httpx

from metaingest import cooperative
from metaingest.config import MetadataRestSinkConfig
from metaingest.errors import ConfigError, MetaingestError

__all__ = ["ApiError", "OpenMetadataClient"]

RETRY_STATUS = frozenset({429, 502, 503, 504})
MAX_RETRY_AFTER = 60.0


class ApiError(MetaingestError):
    """The server refused a request (after retries, where retriable)."""

    def __init__(self, method: str, path: str, status: int | None, message: str) -> None:
        where = f"{status}" if status is not None else "no response"
        super().__init__(f"{method} {path}: {where}: {message}")
        self.status = status
        self.message = message


def _server_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        text: str = body["message"]
    else:
        text = response.text.strip() or response.reason_phrase
    text = " ".join(text.split())
    return text if len(text) <= 300 else text[:297] + "..."


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return None


# entities per page of a listing: a page of whole table entities (columns included) is
# ~2.5 KB each, and httpx reads a page's body in one step of the loop: 1,000 of them held it
# ~15 ms; 250 is four times the requests, each a quarter of that
LIST_PAGE = 250
# answers at least this long are decoded in a worker thread (the loop keeps its turns)
_DECODE_INLINE = 128 * 1024


class OpenMetadataClient:
    """The REST calls the metadata-rest sink makes; an async context manager."""

    def __init__(
        self,
        config: MetadataRestSinkConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.config = config
        self.base = config.host_port.rstrip("/") + "/v1"
        headers = {"Accept": "application/json"}
        if config.jwt_token is not None:
            headers["Authorization"] = f"Bearer {config.jwt_token.get_secret_value()}"
        verify: bool | ssl.SSLContext = config.verify_ssl != "ignore"
        if verify and config.ca_certificate is not None:
            try:
                verify = ssl.create_default_context(cafile=str(config.ca_certificate))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"sink.ca_certificate: {config.ca_certificate}: {exc}") from None
        limits = httpx.Limits(
            max_connections=config.concurrency, max_keepalive_connections=config.concurrency
        )
        self._http = httpx.AsyncClient(
            base_url=self.base,
            headers=headers,
            verify=verify,
            timeout=config.timeout,
            limits=limits,
            transport=transport,
        )
        self.requests: Counter[str] = Counter()  # by method: what a run cost
        self.retried = 0

    async def __aenter__(self) -> OpenMetadataClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every connection; idempotent."""
        await self._http.aclose()

    async def version(self) -> str:
        """``GET /v1/system/version``; any failure is a one-line ConfigError (exit 2)."""
        where = f"sink.host_port {self.config.host_port}"
        try:
            response = await self._send("GET", "/system/version", retry_connect=False)
        except ApiError as exc:
            raise ConfigError(
                f"{where}: cannot reach the OpenMetadata API: {exc.message}"
            ) from None
        if response.status_code in (401, 403):
            raise ConfigError(
                f"sink.jwt_token: the server refused the token ({response.status_code}: "
                f"{_server_message(response)})"
            )
        if response.status_code == 404:
            raise ConfigError(
                f"{where}: GET /v1/system/version answered 404: not an OpenMetadata API "
                "(the URL should end in /api)"
            )
        if response.status_code >= 400:
            raise ConfigError(
                f"{where}: GET /v1/system/version answered {response.status_code}: "
                f"{_server_message(response)}"
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("version"), str):
            raise ConfigError(f"{where}: GET /v1/system/version did not answer a version")
        version: str = body["version"]
        return version

    async def put(self, collection: str, payload: dict[str, Any]) -> dict[str, Any]:
        """``PUT /v1/<collection>``: create or update one entity; returns it."""
        return await self._json("PUT", f"/{collection}", json=payload)

    async def get_by_name(self, collection: str, fqn: str) -> dict[str, Any]:
        """``GET /v1/<collection>/name/{fqn}``: one entity by its fully qualified name."""
        return await self._json("GET", f"/{collection}/name/{quote(fqn, safe='')}")

    async def delete(self, collection: str, entity_id: str, *, recursive: bool) -> None:
        """Soft-delete one entity (``hardDelete=false``)."""
        params = {"hardDelete": "false", "recursive": "true" if recursive else "false"}
        await self._json("DELETE", f"/{collection}/{entity_id}", params=params)

    async def list_all(
        self, collection: str, params: dict[str, str], limit: int = LIST_PAGE
    ) -> AsyncIterator[dict[str, Any]]:
        """Every live entity of a list endpoint, following ``paging.after``."""
        after: str | None = None
        while True:
            query = {**params, "limit": str(limit), "include": "non-deleted"}
            if after is not None:
                query["after"] = after
            page = await self._json("GET", f"/{collection}", params=query)
            for item in page.get("data") or ():
                await cooperative.checkpoint()  # a page holds up to 1,000 entities
                yield item
            after = (page.get("paging") or {}).get("after")
            if not after:
                return

    async def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise ApiError(method, path, response.status_code, _server_message(response))
        content = response.content
        if not content:
            return {}
        try:
            if len(content) < _DECODE_INLINE:
                body = json.loads(content)
            else:  # a page of 1,000 entities: tens of ms of CPU, off the loop's thread
                body = await anyio.to_thread.run_sync(json.loads, content)
        except ValueError:
            raise ApiError(method, path, response.status_code, "not a JSON answer") from None
        return body if isinstance(body, dict) else {}

    async def _send(
        self, method: str, path: str, *, retry_connect: bool = True, **kwargs: Any
    ) -> httpx.Response:
        attempt = 0
        while True:
            self.requests[method] += 1
            try:
                response = await self._http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if not retry_connect or attempt >= self.config.retries:
                    raise ApiError(method, path, None, _transport_message(exc)) from None
                wait = None
            else:
                if response.status_code not in RETRY_STATUS or attempt >= self.config.retries:
                    return response
                wait = _retry_after(response) if response.status_code == 429 else None
            if wait is None:
                wait = self.config.retry_backoff * 2**attempt * random.uniform(0.5, 1.5)
            attempt += 1
            self.retried += 1
            await anyio.sleep(wait)


def _transport_message(exc: httpx.TransportError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed: {cause.verify_message}"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {cause.reason or cause}"
        cause = cause.__cause__ or cause.__context__
    kind = type(exc).__name__
    text = str(exc) or kind
    return f"{kind}: {text}" if text != kind else kind
