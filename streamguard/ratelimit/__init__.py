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

from types import FunctionType as _FunctionType

from ._composite import CompositeLimiter, Tier
from ._decision import Decision, RateLimitExceeded
from ._events import (
    LimiterStatistics,
    RateLimitDecided,
    RateLimitEvent,
    StorageOutageBegan,
    StorageOutageEnded,
)
from ._headers import parse_retry_after
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

# Exports carry their public path (tracebacks and reprs say streamguard.ratelimit.X).
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type | _FunctionType):
        _value.__module__ = __name__
del _name, _value
