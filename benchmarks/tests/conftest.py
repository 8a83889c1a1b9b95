"""Benchmark tests: fast, loopback only, no timing upper bounds."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
