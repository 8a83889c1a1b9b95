"""The latency proxy keeps order, delays both directions, and counts turns."""

from __future__ import annotations

import asyncio
import time

import pytest

from benchmarks.latency_proxy import LatencyProxy

pytestmark = pytest.mark.anyio


class _Echo:
    """A loopback server that echoes each line and records when lines arrived."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            self.arrivals.append(time.monotonic())
            writer.write(line)
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


async def test_delay_is_honoured_in_each_direction() -> None:
    echo = _Echo()
    async with echo as port, LatencyProxy(port, delay_ms=40) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        sent = time.monotonic()
        writer.write(b"ping\n")
        assert await asyncio.wait_for(reader.readline(), 5) == b"ping\n"
        back = time.monotonic()
        writer.close()
    # Lower bounds only: a loaded machine can be slower, never faster than the delay.
    assert echo.arrivals[0] - sent >= 0.039
    assert back - echo.arrivals[0] >= 0.039


async def test_order_is_kept_and_bytes_all_arrive() -> None:
    echo = _Echo()
    lines = [f"{i:06d}\n".encode() * (1 + i % 50) for i in range(2000)]
    async with echo as port, LatencyProxy(port, delay_ms=1) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)

        async def send() -> None:
            for line in lines:
                writer.write(line)
                await writer.drain()

        sender = asyncio.ensure_future(send())
        expected = b"".join(lines)
        got = await asyncio.wait_for(reader.readexactly(len(expected)), 10)
        await sender
        writer.close()
    assert got == expected
    assert proxy.stats.bytes_up == proxy.stats.bytes_down == len(expected)


async def test_turns_count_request_response_exchanges() -> None:
    echo = _Echo()
    async with echo as port, LatencyProxy(port, delay_ms=0) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        for i in range(7):
            writer.write(b"a" * (i + 1) + b"\n")  # one request ...
            await asyncio.wait_for(reader.readline(), 5)  # ... one response
        writer.close()
        second_r, second_w = await asyncio.open_connection("127.0.0.1", proxy.port)
        second_w.write(b"x\n")
        await asyncio.wait_for(second_r.readline(), 5)
        second_w.close()
        for _ in range(100):  # let the proxy see both closes (bounded)
            if proxy.stats.active == 0:
                break
            await asyncio.sleep(0.01)
        assert proxy.stats.turns == 8
        assert proxy.stats.connections == 2
        assert proxy.stats.peak_active >= 1
        proxy.reset()
        assert proxy.stats.turns == 0


def test_refuses_non_loopback() -> None:
    with pytest.raises(ValueError, match="loopback"):
        LatencyProxy(5432, 1, target_host="10.0.0.1")
