"""`CompositeLimiter`: several tiers (global, per user, per endpoint ...) that must all pass.

Every decision checks all tiers first and commits to all of them only if each allows, so a
refusal by one tier consumes nothing from the others. In local storage that is check-then-
commit within one synchronous call; in Redis it is one Lua script over every tier's key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from streamguard.core._clock import SYSTEM_CLOCK, Clock
from streamguard.core._errors import require
from streamguard.core._events import EventBus

from ._limiter import BaseLimiter
from ._outage import FailureMode
from .algorithms._base import Algorithm, Decision
from .storage import Storage


@dataclass(frozen=True, kw_only=True, slots=True)
class Tier:
    """One limit of a :class:`CompositeLimiter`.

    Attributes:
        name: names the tier in decisions and storage keys (``"<limiter>/<name>"``).
        algorithm: its policy.
        key: takes the caller's key (the context passed to ``acquire(key=...)``) and returns
            this tier's key; ``None`` (the default) means one shared limit for everybody.

    Example::

        Tier(name="user", algorithm=TokenBucket(rate=5, burst=10), key=lambda req: req.user)
    """

    name: str
    algorithm: Algorithm
    key: Callable[[Any], Hashable] | None = None

    def __post_init__(self) -> None:
        require(isinstance(self.name, str) and self.name != "",
                "tier name must be a non-empty string", self.name)
        require(isinstance(self.algorithm, Algorithm),
                "tier algorithm must be an Algorithm such as TokenBucket(rate=..., burst=...)",
                self.algorithm)


class CompositeLimiter(BaseLimiter):
    """Several tiers that must all pass; a refusal consumes nothing from any tier.

    The decision reports the tier that binds: when refused, the refusing tier with the
    longest ``retry_after``; when allowed, the tier with the least room left. ``tiers`` holds
    every tier's own decision (the IETF ``RateLimit`` headers list them all). *name* comes
    first, as for every guardian; the arguments after *tiers* are those of
    :class:`~streamguard.ratelimit.RateLimiter`.

    Example::

        api = CompositeLimiter("api", [
            Tier(name="global", algorithm=TokenBucket(rate=1000, burst=100)),
            Tier(name="user", algorithm=TokenBucket(rate=10, burst=5), key=lambda r: r.user),
            Tier(name="endpoint", algorithm=FixedWindow(limit=100, window=60),
                 key=lambda r: r.path),
        ])
        await api.acquire(key=request)
    """

    def __init__(self, name: str, tiers: Sequence[Tier], *, storage: str | Storage = "memory://",
                 failure_mode: FailureMode = "open", outage_probe: float = 0.5,
                 clock: Clock = SYSTEM_CLOCK, bus: EventBus | None = None) -> None:
        require(isinstance(tiers, Iterable) and not isinstance(tiers, str | Tier),
                "tiers must be a list of Tier(name=..., algorithm=...)", tiers)
        tiers = tuple(tiers)
        require(len(tiers) >= 1, "a composite limiter needs at least one tier", len(tiers))
        for i, tier in enumerate(tiers):
            require(isinstance(tier, Tier),
                    f"tiers[{i}]: each tier must be a Tier(name=..., algorithm=...)", tier)
        names = [t.name for t in tiers]
        require(len(set(names)) == len(names), "tier names must be unique", names)
        self.tiers = tiers
        self._key_fns = tuple(t.key for t in tiers)
        super().__init__([(f"{name}/{t.name}", t.algorithm) for t in tiers], name=name,
                         storage=storage, failure_mode=failure_mode,
                         outage_probe=outage_probe, clock=clock, bus=bus)

    def __repr__(self) -> str:
        return (f"CompositeLimiter({self.name!r}, tiers={[t.name for t in self.tiers]}, "
                f"storage={self.storage.uri!r})")

    def _keys(self, key: Any) -> tuple[Hashable, ...]:
        return tuple(None if fn is None else fn(key) for fn in self._key_fns)

    def _combine(self, decisions: list[Decision]) -> Decision:
        refused = [d for d in decisions if not d.allowed]
        if refused:
            binding = max(refused, key=lambda d: d.retry_after)
        else:
            binding = min(decisions, key=lambda d: d.remaining / d.limit)
        return binding._replace(tiers=tuple(decisions))
