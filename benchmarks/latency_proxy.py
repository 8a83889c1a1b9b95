"""An asyncio TCP proxy on loopback that adds a fixed delay to every chunk, each direction.

Each direction of each connection has a queue and a pump: the reader stamps every chunk it
receives with a due time (arrival + delay) and queues it; the pump sleeps until the head's
due time and writes it. Delays therefore do not accumulate (a burst of chunks arrives one
delay later, together) and order is kept; only the delay limits throughput.

The proxy also counts *turns*: a turn is a client->server chunk that follows server->client
traffic (or opens the connection), i.e. one request/response round trip of the protocol.

    python -m benchmarks.latency_proxy --listen-port 15432 --target-port 5432 --delay-ms 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from dataclasses import asdict, dataclass

__all__ = ["LatencyProxy", "ProxyStats"]

_CHUNK = 256 * 1024
_QUEUE = 4096  # chunks in flight per direction before the reader waits (backpressure only)
_LOOPBACK = ("127.", "localhost", "::1")


@dataclass
class ProxyStats:
    """Counters since the proxy started (or since ``reset()``)."""

    connections: int = 0
    active: int = 0
    peak_active: int = 0
    turns: int = 0
    chunks_up: int = 0
    chunks_down: int = 0
    bytes_up: int = 0
    bytes_down: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return asdict(self)


class _Conn:
    """Per-connection state shared by both directions: who spoke last."""

    __slots__ = ("last_up",)

    def __init__(self) -> None:
        self.last_up = False


class LatencyProxy:
    """Forwards ``listen`` -> ``target``, delaying each chunk by ``delay_ms`` each way."""

    def __init__(
        self,
        target_port: int,
        delay_ms: float,
        target_host: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
        listen_port: int = 0,
    ) -> None:
        for host in (target_host, listen_host):
            if not host.startswith(_LOOPBACK):
                raise ValueError(f"{host}: the proxy serves loopback only")
        self.target = (target_host, target_port)
        self.listen = (listen_host, listen_port)
        self.delay = delay_ms / 1000.0
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        """The port the proxy listens on (useful with ``listen_port=0``)."""
        assert self._server is not None, "start() the proxy first"
        return int(self._server.sockets[0].getsockname()[1])

    def reset(self) -> None:
        """Zero the counters (connections still open stay counted as active)."""
        active = self.stats.active
        for name in self.stats.as_dict():
            setattr(self.stats, name, 0)
        self.stats.active = self.stats.peak_active = active

    async def __aenter__(self) -> LatencyProxy:
        self._server = await asyncio.start_server(self._handle, *self.listen)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening and cut every open connection."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        stats = self.stats
        stats.connections += 1
        stats.active += 1
        stats.peak_active = max(stats.peak_active, stats.active)
        try:
            server_r, server_w = await asyncio.wait_for(asyncio.open_connection(*self.target), 10)
        except (OSError, TimeoutError):
            client_w.close()
            self._done(task)
            return
        conn = _Conn()
        both = [
            asyncio.ensure_future(self._direction(client_r, server_w, conn, up=True)),
            asyncio.ensure_future(self._direction(server_r, client_w, conn, up=False)),
        ]
        try:
            await asyncio.gather(*both)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            for half in both:
                half.cancel()
            await asyncio.gather(*both, return_exceptions=True)
            for w in (client_w, server_w):
                w.close()
            self._done(task)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.stats.active -= 1
        self._tasks.discard(task)

    async def _direction(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, conn: _Conn, up: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        stats = self.stats
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(_QUEUE)

        async def pump() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:  # end of stream, delayed like data
                    with contextlib.suppress(OSError):
                        if writer.can_write_eof():
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        pumping = asyncio.ensure_future(pump())
        try:
            while True:
                data = await reader.read(_CHUNK)
                if data:
                    if up:
                        if not conn.last_up:
                            stats.turns += 1
                        stats.chunks_up += 1
                        stats.bytes_up += len(data)
                    else:
                        stats.chunks_down += 1
                        stats.bytes_down += len(data)
                    conn.last_up = up
                await queue.put((loop.time() + self.delay, data))
                if not data:
                    break
            await pumping
        finally:
            pumping.cancel()


async def _serve(args: argparse.Namespace) -> None:
    proxy = LatencyProxy(
        args.target_port, args.delay_ms, args.target_host, args.listen_host, args.listen_port
    )
    async with proxy:
        print(
            f"listening on {args.listen_host}:{proxy.port} -> "
            f"{args.target_host}:{args.target_port}, {args.delay_ms} ms each way",
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.max_seconds)
    print(proxy.stats.as_dict(), flush=True)


def main(argv: list[str] | None = None) -> None:
    """Run a proxy until SIGINT/SIGTERM or ``--max-seconds``; print the counters at exit."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.latency_proxy")
    parser.add_argument("--listen-host", default="127.0.0.1")
    parser.add_argument("--listen-port", type=int, default=0)
    parser.add_argument("--target-host", default="127.0.0.1")
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--delay-ms", type=float, default=2.0)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
