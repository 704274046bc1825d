"""Contract cases of rate limiting: the ``rate_limit`` stage, unkeyed and keyed, never binding
(lossless, no clock: it may be stacked in the random pipelines of the ack property test) and
binding on real time (items wait in per-key lines, so cancellation finds them waiting)."""

from __future__ import annotations

from streamguard.core import EventBus
from streamguard.ratelimit import RateLimiter, TokenBucket, rate_limit

from .registry import stage


def _free(name: str) -> RateLimiter:
    return RateLimiter(name, TokenBucket(rate=1e12, burst=1e12), bus=EventBus())


def _third(item: int) -> int:
    return item % 3


stage("rate_limit", lambda: rate_limit(_free("contract")), random=True)
stage("rate_limit keyed", lambda: rate_limit(_free("contract-keyed"), key=_third,
                                             max_pending=8), random=True)
# Binding: 5 at once, then 20,000/s; the lines are busy for the whole run.
stage("rate_limit binding", lambda: rate_limit(
    RateLimiter("contract-binding", TokenBucket(rate=20_000, burst=5), bus=EventBus()),
    key=_third, max_pending=8))
