"""Rate limiting: seven algorithms, keyed and composite limits, shared through Redis.

Pick an algorithm (the policy), wrap it in a :class:`RateLimiter` (per key if you pass keys,
in ``memory://`` or ``redis://`` storage), then decide now or wait::

    from streamguard.ratelimit import RateLimiter, TokenBucket

    limiter = RateLimiter("api", TokenBucket(rate=100, burst=20))
    decision = limiter.try_acquire(key="alice")            # local: synchronous
    if not decision.allowed:
        return 429, decision.headers()                     # Retry-After, RateLimit, ...
    await limiter.acquire(key="bob")                       # or wait for capacity

In a pipeline, :func:`rate_limit` delays items (``"backpressure"``, the default), polices
(refuses to a callback) or fails::

    stream.pipe(rate_limit(limiter, key=lambda event: event.user))

Keys take turns; for fairness when one key's items outpace its limit, bound what each key
may hold and route the rest (``max_pending_per_key=8, on_reject=...``; see :func:`rate_limit`).

A :class:`CompositeLimiter` combines :class:`Tier` limits that must all pass. Decisions are
published as :class:`RateLimitDecided` events; storage outages as
:class:`StorageOutageBegan` / :class:`StorageOutageEnded`.

=====================  ==========================================================
algorithm              use it for
=====================  ==========================================================
TokenBucket            the default: an average rate with a separate burst
GCRA                   the same decisions, one timestamp of state
LeakyBucketMeter       the token bucket told as a bucket that fills
LeakyBucketShaper      a constant outflow, no burst at all, a bounded queue
FixedWindow            "N per minute" quotas (2N across a boundary)
SlidingWindowLog       strictly N in any window (memory grows with N)
SlidingWindowCounter   about N per window in constant memory
=====================  ==========================================================
"""

from streamguard.core._public import publish as _publish

from ._composite import CompositeLimiter, Tier
from ._events import (
    LimiterStatistics,
    RateLimitDecided,
    RateLimitEvent,
    StorageOutageBegan,
    StorageOutageEnded,
)
from ._headers import parse_retry_after
from ._limiter import RateLimitExceeded
from ._rate_limiter import RateLimiter
from ._stage import Mode, rate_limit
from .algorithms import (
    GCRA,
    Algorithm,
    FixedWindow,
    LeakyBucketMeter,
    LeakyBucketShaper,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
)
from .algorithms._base import Decision
from .storage import MemoryStorage, RedisStorage, Storage, storage_from_uri

__all__ = [
    "GCRA",
    "Algorithm",
    "CompositeLimiter",
    "Decision",
    "FixedWindow",
    "LeakyBucketMeter",
    "LeakyBucketShaper",
    "LimiterStatistics",
    "MemoryStorage",
    "Mode",
    "RateLimitDecided",
    "RateLimitEvent",
    "RateLimitExceeded",
    "RateLimiter",
    "RedisStorage",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "Storage",
    "StorageOutageBegan",
    "StorageOutageEnded",
    "Tier",
    "TokenBucket",
    "parse_retry_after",
    "rate_limit",
    "storage_from_uri",
]

_publish(__name__, globals(), __all__)
