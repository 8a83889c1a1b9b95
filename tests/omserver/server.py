"""A stand-in OpenMetadata API server: stdlib HTTP/1.1 (keep-alive) in a thread, on loopback.

``with OMServer(token="t") as server:`` listens on 127.0.0.1 (a free port; https with
``tls=(certificate, key)``); ``server.url``
is the ``hostPort`` to configure (``http://127.0.0.1:<port>/api``). Endpoints, under
``/api/v1``: ``GET system/version``; for each collection of ``store.COLLECTIONS``:
``PUT <collection>`` (the body validated against the official JSON Schema of that endpoint's
Create*Request, vendored in tests/openmetadata_schemas: 400 with every violation otherwise),
``GET <collection>`` (list), ``GET <collection>/name/{fqn}``, ``DELETE <collection>/{id}``,
``PUT <collection>/restore``; ``PUT lineage`` (an AddLineageRequest between live entities).
Every request needs ``Authorization: Bearer <token>`` (401).

Faults, for the retry tests: ``server.latency`` (seconds per request), ``server.inject(kind,
count, method=None, every=1)`` answers ``count`` of the matching requests (every ``every``-th
one) with a fault: ``"429"`` (with ``Retry-After``), ``"503"``, ``"drop"`` (the connection
is closed with no answer);
``server.reject(fqn)`` answers 400 to every PUT of that entity (a non-retriable refusal).
``server.requests`` counts requests by (method, route); ``server.log`` keeps them in order.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.openmetadata import validation_errors

from .store import COLLECTIONS, ApiFailure, Store, quote

__all__ = ["OMServer"]

VERSION = "1.13.0"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # headers and body leave in one segment, at once: without these a keep-alive client waits
    # for the delayed ACK (~40 ms) on every request (Nagle's algorithm)
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server: _Http

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _answer(self, status: int, body: dict[str, Any] | None, headers: dict[str, str]) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        stand_in = self.server.stand_in
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query))
        route, answer = stand_in.route(self.command, parts.path, query, raw, self.headers)
        stand_in.count(self.command, route)
        if answer is None:  # a dropped connection: no answer at all
            self.close_connection = True
            return
        status, body, headers = answer
        self._answer(status, body, headers)

    do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = _handle


class _Http(ThreadingHTTPServer):
    daemon_threads = True
    stand_in: OMServer


Answer = tuple[int, dict[str, Any] | None, dict[str, str]]


class OMServer:
    """The stand-in server; a context manager that runs it in a background thread."""

    def __init__(self, token: str = "test-token", tls: tuple[str, str] | None = None) -> None:
        self.token = token
        self.validate = True  # the benchmark turns it off: its server's CPU is not the client's
        self.store = Store()
        self.latency = 0.0
        self.requests: Counter[tuple[str, str]] = Counter()
        self.log: list[tuple[str, str]] = []
        self.invalid: list[str] = []  # every schema violation seen (must stay empty)
        self._faults: list[list[Any]] = []  # [kind, method, every, left, seen]
        self._rejected: set[str] = set()
        self._lock = threading.Lock()
        self._http = _Http(("127.0.0.1", 0), _Handler)
        self._http.stand_in = self
        self.scheme = "http"
        if tls is not None:  # (certificate file, key file): serve https
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)
            self.scheme = "https"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ``hostPort`` of this server (``.../api``)."""
        return f"{self.scheme}://127.0.0.1:{self._http.server_address[1]}/api"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    def inject(self, kind: str, count: int = 1, method: str | None = None, every: int = 1) -> None:
        """Answer ``count`` of the next requests (of ``method``, every ``every``-th): a fault."""
        with self._lock:
            self._faults.append([kind, method, every, count, 0])

    def reject(self, fqn: str) -> None:
        """Refuse every PUT of ``fqn`` with a 400."""
        self._rejected.add(fqn)

    def count(self, method: str, route: str) -> None:
        with self._lock:
            self.requests[(method, route)] += 1
            self.log.append((method, route))

    def _fault(self, method: str) -> str | None:
        with self._lock:
            for spec in self._faults:
                kind, only, every, left, _ = spec
                if left and (only is None or only == method):
                    spec[4] += 1
                    if spec[4] % every == 0:
                        spec[3] -= 1
                        return str(kind)
        return None

    def route(
        self, method: str, path: str, query: dict[str, str], raw: bytes, headers: Any
    ) -> tuple[str, Answer | None]:
        """Answer one request: (route name, answer or None to drop the connection)."""
        if self.latency:
            time.sleep(self.latency)
        fault = self._fault(method)
        if fault == "drop":
            return "fault", None
        if fault == "429":
            return "fault", (
                429,
                {"code": 429, "message": "Too Many Requests"},
                {"Retry-After": "0"},
            )
        if fault == "503":
            return "fault", (503, {"code": 503, "message": "Service Unavailable"}, {})
        if headers.get("Authorization") != f"Bearer {self.token}":
            return "auth", (
                401,
                {"code": 401, "message": "Not Authorized! Token not present or invalid"},
                {},
            )
        if not path.startswith("/api/v1/"):
            return "unknown", (404, {"code": 404, "message": "HTTP 404 Not Found"}, {})
        rest = path[len("/api/v1/") :]
        try:
            route, body = self._dispatch(method, rest, query, raw)
        except ApiFailure as failure:
            return rest.split("/")[0], (
                failure.status,
                {"code": failure.status, "message": failure.message},
                {},
            )
        status = 201 if route.endswith(":created") else 200
        return route.removesuffix(":created"), (status, body, {})

    def _dispatch(
        self, method: str, rest: str, query: dict[str, str], raw: bytes
    ) -> tuple[str, dict[str, Any]]:
        if method == "GET" and rest == "system/version":
            return "version", {"version": VERSION, "revision": "stand-in", "timestamp": 0}
        if method == "PUT" and rest == "lineage":
            body = _json(raw)
            errors = validation_errors("lineage", body) if self.validate else []
            if errors:
                self.invalid.extend(errors)
                raise ApiFailure(400, "; ".join(errors[:5]))
            self.store.add_lineage(body)
            return "put lineage", {}
        for collection in sorted(COLLECTIONS, key=len, reverse=True):
            if rest == collection or rest.startswith(collection + "/"):
                return self._entity(method, collection, rest[len(collection) :], query, raw)
        raise ApiFailure(404, f"HTTP 404 Not Found: {rest}")

    def _entity(
        self, method: str, collection: str, tail: str, query: dict[str, str], raw: bytes
    ) -> tuple[str, dict[str, Any]]:
        kind = COLLECTIONS[collection][0]
        store = self.store
        if method == "PUT" and tail == "":
            body = _json(raw)
            errors = validation_errors(kind, body) if self.validate else []
            if errors:
                self.invalid.extend(errors)
                raise ApiFailure(400, "; ".join(errors[:5]))
            parent_key = COLLECTIONS[collection][1]
            name = quote(str(body["name"]))
            fqn = name if parent_key is None else f"{body[parent_key]}.{name}"
            if fqn in self._rejected:
                raise ApiFailure(400, f"{kind} {fqn}: rejected by the stand-in")
            status, entity = store.put(collection, body)
            return f"put {kind}" + (":created" if status == 201 else ""), entity
        if method == "PUT" and tail == "/restore":
            return f"restore {kind}", store.restore(collection, str(_json(raw).get("id")))
        if method == "GET" and tail == "":
            return f"list {kind}", store.list(collection, query)
        if method == "GET" and tail.startswith("/name/"):
            return f"get {kind}", store.get(collection, unquote(tail[len("/name/") :]))
        if method == "DELETE" and tail.count("/") == 1:
            hard = query.get("hardDelete", "false") == "true"
            store.delete(collection, tail[1:], hard, query.get("recursive") == "true")
            return f"delete {kind}", {}
        raise ApiFailure(405, f"{method} {collection}{tail} is not supported by the stand-in")


def _json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise ApiFailure(400, "Unable to process JSON") from None
    if not isinstance(body, dict):
        raise ApiFailure(400, "Unable to process JSON: expected an object")
    return body
