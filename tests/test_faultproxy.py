"""The fault proxy itself, against a local echo server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream

from .faultproxy import FaultProxy

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def echo_server() -> AsyncIterator[int]:
    """A TCP echo server on loopback; yields its port."""

    async def echo(stream: SocketStream) -> None:
        async with stream:
            try:
                async for chunk in stream:
                    await stream.send(chunk)
            except (anyio.BrokenResourceError, OSError):
                pass

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, echo)
        yield listener.extra(SocketAttribute.local_port)
        tg.cancel_scope.cancel()


async def roundtrip(port: int, payload: bytes) -> bytes:
    """Send ``payload`` through the proxy and read back as much as comes before EOF."""
    received = b""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(payload)
        try:
            while len(received) < len(payload):
                received += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
            pass
    return received


async def test_passthrough_and_delay() -> None:
    with anyio.fail_after(10):
        async with echo_server() as upstream, FaultProxy(upstream) as proxy:
            assert await roundtrip(proxy.port, b"hello") == b"hello"
            proxy.delay(50)
            started = anyio.current_time()
            assert await roundtrip(proxy.port, b"slow") == b"slow"
            assert anyio.current_time() - started >= 0.1  # delayed both ways
            proxy.passthrough()
            assert await roundtrip(proxy.port, b"x" * 200_000) == b"x" * 200_000
            assert proxy.stats.accepted == 3


async def test_cut_after_n_bytes_resets_every_connection_once() -> None:
    with anyio.fail_after(10):
        async with echo_server() as upstream, FaultProxy(upstream) as proxy:
            proxy.cut_after(10)  # 6 bytes up, then 4 of the 6 echoed back
            assert await roundtrip(proxy.port, b"abcdef") == b"abcd"
            assert await roundtrip(proxy.port, b"abcdef") == b"abcd"  # a new one, cut too
            assert proxy.stats.cut == 2
            proxy.passthrough()
            assert await roundtrip(proxy.port, b"abcdef") == b"abcdef"


async def test_refuse_and_blackhole() -> None:
    with anyio.fail_after(10):
        async with echo_server() as upstream, FaultProxy(upstream) as proxy:
            proxy.refuse()
            assert await roundtrip(proxy.port, b"hi") == b""
            proxy.refuse(False)
            proxy.blackhole_next(skip=1)
            assert await roundtrip(proxy.port, b"one") == b"one"  # skipped
            stream = await anyio.connect_tcp("127.0.0.1", proxy.port)
            async with stream:
                await stream.send(b"into the void")
                with anyio.move_on_after(0.3) as scope:
                    await stream.receive()
                assert scope.cancelled_caught  # accepted, kept open, nothing comes back
                assert await roundtrip(proxy.port, b"after") == b"after"  # only that one
            assert (proxy.stats.refused, proxy.stats.blackholed) == (1, 1)
