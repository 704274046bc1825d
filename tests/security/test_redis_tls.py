"""A Redis with TLS and ACL users, as production runs it: the shared limiter reaches it through
``rediss://user:password@…?ssl_ca_certs=…``; on a wrong password or an untrusted certificate it
follows its failure mode exactly as in an outage, and the error names the cause — never the
password."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from streamguard.core import ConfigError, EventBus
from streamguard.ratelimit import RateLimiter, StorageOutageBegan, TokenBucket
from streamguard.servers import RedisConfig, RedisServer

pytestmark = pytest.mark.integration

PASSWORD = "r3dis-Pa55word"
SLOW = 1 / 3600


@pytest.fixture(scope="module")
def redis_tls() -> Iterator[RedisServer]:
    with RedisServer(RedisConfig(tls=True, users={"alice": PASSWORD})) as server:
        yield server


def _limiter(storage: str, mode: str, bus: EventBus) -> RateLimiter:
    return RateLimiter("api", TokenBucket(rate=SLOW, burst=2), bus=bus, storage=storage,
                       failure_mode=mode, outage_probe=60.0)  # type: ignore[arg-type]


async def test_tls_and_a_password_reach_the_shared_limit(redis_tls: RedisServer) -> None:
    limiter = _limiter(redis_tls.url_for("alice", PASSWORD), "closed", EventBus())
    try:
        assert [(await limiter.decide()).allowed for _ in range(3)] == [True, True, False]
        assert not limiter.statistics().storage_down
    finally:
        await limiter.aclose()


@pytest.mark.parametrize("mode", ["open", "closed"])
@pytest.mark.parametrize(("case", "cause"), [
    ("wrong password", "invalid username-password pair"),
    ("untrusted certificate", "certificate verify failed"),
])
async def test_refusals_follow_the_failure_mode_and_name_the_cause(
        redis_tls: RedisServer, caplog: pytest.LogCaptureFixture, mode: str, case: str,
        cause: str) -> None:
    storage = (redis_tls.url_for("alice", "not-" + PASSWORD) if case == "wrong password"
               else redis_tls.url_for("alice", PASSWORD).split("?")[0])  # no CA: untrusted
    bus = EventBus()
    began: list[StorageOutageBegan] = []
    bus.subscribe(lambda e: began.append(e) if isinstance(e, StorageOutageBegan) else None)
    limiter = _limiter(storage, mode, bus)
    try:
        with caplog.at_level(logging.DEBUG):
            decisions = [await limiter.decide() for _ in range(3)]
        assert all(d.allowed == (mode == "open") for d in decisions)
        assert len(began) == 1
        assert cause in began[0].error
        seen = [began[0].error, repr(began[0]), caplog.text, repr(limiter),
                repr(limiter.statistics())]
        assert [text for text in seen if PASSWORD in text] == []
    finally:
        await limiter.aclose()


def test_tls_files_need_rediss_and_must_exist() -> None:
    with pytest.raises(ConfigError, match="need a rediss:// URI"):
        RateLimiter("x", TokenBucket(rate=1, burst=1),
                    storage="redis://127.0.0.1:1/0?ssl_ca_certs=/etc/hostname")
    with pytest.raises(ConfigError, match="ssl_ca_certs must name an existing file") as info:
        RateLimiter("x", TokenBucket(rate=1, burst=1),
                    storage=f"rediss://alice:{PASSWORD}@127.0.0.1:1/0?ssl_ca_certs=/nope.pem")
    assert PASSWORD not in str(info.value)
