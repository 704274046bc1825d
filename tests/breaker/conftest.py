"""Fixtures of the shared-breaker tests: a real ``redis-server`` started by the test run.

``redis_server`` is one server for the session (a free loopback port, stopped by its pid);
``redis_url`` gives each test a key prefix of its own; ``own_redis`` is a private server per
test, for the outage tests that stop it and start it again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from streamguard.servers import RedisServer

_names = itertools.count()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A Redis URI with a key prefix of its own, so tests never see each other's state."""
    return f"{redis_server.url}?prefix=cbtest{next(_names)}:"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server for this test alone (it may be killed and restarted)."""
    with RedisServer() as server:
        yield server
