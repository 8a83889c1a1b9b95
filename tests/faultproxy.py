"""A small TCP fault proxy for tests: loopback only, inside the test's event loop.

``async with FaultProxy(5432) as proxy:`` listens on 127.0.0.1 (a free port, ``proxy.port``)
and forwards every connection to 127.0.0.1:<upstream>. Modes switch at runtime and apply
from the next chunk (or connection) on:

- ``passthrough()``: forward everything;
- ``delay(ms)``: hold each chunk ``ms`` milliseconds before forwarding it;
- ``cut_after(n)``: every connection, open or new, is reset (RST) once it has carried
  ``n`` bytes in both directions together: the first ``n`` are forwarded, then both ends
  are closed;
- ``refuse()``: new connections are reset as soon as they are accepted (the closest a
  listening socket comes to ECONNREFUSED);
- ``blackhole_next(skip=0)``: the next connection (after ``skip`` more) is accepted and kept
  open, and nothing is forwarded either way until the proxy stops.

Everything runs in one anyio task group owned by the context manager; leaving it closes
every connection.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

import anyio
from anyio.abc import SocketAttribute, SocketStream, TaskGroup

__all__ = ["FaultProxy"]

_CHUNK = 65536


@dataclass
class _Stats:
    accepted: int = 0
    cut: int = 0
    refused: int = 0
    blackholed: int = 0
    carried: list[int] = field(default_factory=list)  # bytes, per finished connection


class _Link:
    """One proxied connection: both sockets and the bytes carried so far."""

    def __init__(self, client: SocketStream, upstream: SocketStream) -> None:
        self.client = client
        self.upstream = upstream
        self.carried = 0
        self.scope = anyio.CancelScope()
        self.cut = False


def _reset(stream: SocketStream) -> None:
    """Make the next close send RST instead of FIN."""
    sock = stream.extra(SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class FaultProxy:
    """Forwards 127.0.0.1:<port> to 127.0.0.1:<upstream>, with switchable faults."""

    def __init__(self, upstream: int, host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self.port = 0
        self.stats = _Stats()
        self._delay = 0.0
        self._cut_after: int | None = None
        self._refuse = False
        self._blackhole_in: int | None = None
        self._links: set[_Link] = set()
        self._tg: TaskGroup | None = None

    # -- modes ---------------------------------------------------------------

    def passthrough(self) -> None:
        """Forward everything, at once."""
        self._delay, self._cut_after, self._refuse = 0.0, None, False
        self._blackhole_in = None

    def delay(self, ms: float) -> None:
        """Hold every chunk ``ms`` milliseconds before forwarding it."""
        self._delay = ms / 1000

    def cut_after(self, nbytes: int) -> None:
        """Reset every connection once it has carried ``nbytes`` (both directions)."""
        self._cut_after = nbytes
        for link in list(self._links):
            if link.carried >= nbytes:
                self._cut(link)

    def refuse(self, on: bool = True) -> None:
        """Reset new connections as soon as they are accepted."""
        self._refuse = on

    def blackhole_next(self, skip: int = 0) -> None:
        """Swallow the next connection after ``skip`` more: accept it, forward nothing."""
        self._blackhole_in = skip

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        listener = await anyio.create_tcp_listener(local_host=self.host, local_port=0)
        self.port = listener.extra(SocketAttribute.local_port)
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._serve, listener)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._tg.cancel_scope.cancel()
        return await self._tg.__aexit__(exc_type, exc, tb)

    async def _serve(self, listener: anyio.abc.Listener[SocketStream]) -> None:
        async with listener:
            await listener.serve(self._handle, task_group=self._tg)

    async def _handle(self, client: SocketStream) -> None:
        self.stats.accepted += 1
        if self._refuse:
            self.stats.refused += 1
            _reset(client)
            await client.aclose()
            return
        if self._blackhole_in is not None:
            if self._blackhole_in == 0:
                self._blackhole_in = None
                self.stats.blackholed += 1
                async with client:
                    await anyio.sleep_forever()
            self._blackhole_in -= 1
        try:
            upstream = await anyio.connect_tcp("127.0.0.1", self.upstream)
        except OSError:
            _reset(client)
            await client.aclose()
            return
        link = _Link(client, upstream)
        self._links.add(link)
        try:
            with link.scope:
                async with client, upstream, anyio.create_task_group() as tg:
                    tg.start_soon(self._pump, link, client, upstream)
                    tg.start_soon(self._pump, link, upstream, client)
        finally:
            self._links.discard(link)
            self.stats.carried.append(link.carried)

    async def _pump(self, link: _Link, source: SocketStream, target: SocketStream) -> None:
        try:
            while True:
                data = await source.receive(_CHUNK)
                if self._delay:
                    await anyio.sleep(self._delay)
                limit = self._cut_after
                if limit is not None and link.carried + len(data) >= limit:
                    data = data[: max(0, limit - link.carried)]
                    link.carried += len(data)
                    if data:
                        await target.send(data)
                    self._cut(link)
                    return
                link.carried += len(data)
                await target.send(data)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            pass
        # one side is done: half-close the other so that it sees EOF, as TCP would
        with contextlib.suppress(anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
            await target.send_eof()

    def _cut(self, link: _Link) -> None:
        if link.cut:
            return
        link.cut = True
        self.stats.cut += 1
        for stream in (link.client, link.upstream):
            with contextlib.suppress(OSError):
                _reset(stream)
        link.scope.cancel()
