"""Suite-wide settings and fixtures: asyncio debug mode on for every test's event loop, and
the real ``redis-server`` the limiter and breaker tests share.

``redis_server`` is one server for the session (started on first use, on a free loopback
port, stopped by its pid at the end); ``redis_url`` gives each test a key prefix of its own;
``own_redis`` is a private server per test, for the outage tests that kill and restart it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from streamguard.servers import RedisServer

# Read by every new event loop (asyncio.coroutines._is_debug_mode), so each test's loop runs
# in debug mode: never-awaited coroutines and slow callbacks are reported.
os.environ.setdefault("PYTHONASYNCIODEBUG", "1")


_names = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URI with a key prefix of its own, so tests never see each other's state."""
    return f"{redis_server.url}?prefix=test{next(_names)}:"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server for this test alone (it may be killed and restarted)."""
    with RedisServer() as server:
        yield server
