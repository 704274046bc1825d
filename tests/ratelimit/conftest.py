"""Fixtures of the rate-limit tests. The Redis ones (``redis_server``, ``redis_url``,
``own_redis``) come from ``tests/conftest.py``; ``storage_uri`` runs a test body once on
``memory://`` and once on that Redis."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", "redis"])
def storage_uri(request: pytest.FixtureRequest) -> str:
    """The same test body on local and on Redis storage."""
    if request.param == "memory":
        return "memory://"
    url: str = request.getfixturevalue("redis_url")
    return url
