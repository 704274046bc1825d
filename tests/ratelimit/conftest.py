"""Fixtures of the rate-limit tests: a real ``redis-server`` started by the test run.

``redis_url`` is one server for the whole session (started on first use, on a free loopback
port, stopped by its pid at the end). ``storage_uri`` runs a test body once on ``memory://``
and once on that Redis. ``own_redis`` is a private server per test, for the outage tests
that kill it.
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
    return f"{redis_server.url}?prefix=test{next(_names)}:"


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    """The same test body on local and on Redis storage."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server for this test alone (it may be killed and restarted)."""
    with RedisServer() as server:
        yield server
