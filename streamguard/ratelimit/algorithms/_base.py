"""What every algorithm provides: a frozen policy, a mutable per-key state, and the
:class:`Decision` that state returns.

An :class:`Algorithm` is the validated configuration (rate, burst, window ...) and the pure
math: the bound it guarantees and the state it starts from. A :class:`State` is the per-key
memory of one algorithm in local storage; its :meth:`State.decide` is the whole hot path, a
few float operations on slots. The Redis backend runs the same math in Lua
(``storage/lua/<kind>.lua``), with the state in a Redis hash.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

from .._headers import render_headers

EPSILON = 1e-9
"""Tolerance, in cost units, of every comparison: a clock reading of 0.30000000000000004 must
admit what is due at 0.3. The state itself is never rounded, so no capacity is created."""

ROUNDING = 1e-15
"""Relative rounding of a clock reading. Comparisons that subtract two readings also tolerate
a few ulps of the readings' magnitude, so a limiter on an epoch-based clock (the Redis
server's TIME, a wall clock) admits what is due exactly like one on small ``loop.time()``
values: ``(now + 0.025) - now`` is not 0.025 when ``now`` is 1.7e9."""

INF = float("inf")

# A NamedTuple, not a frozen dataclass: one is built on every decision, and building a tuple
# costs a fifth of a frozen dataclass (0.12 µs against 0.7 µs here), which is the whole budget
# of the limiter's fast path. It is just as immutable.
class Decision(NamedTuple):
    """The outcome of one rate-limit decision (immutable).

    Attributes:
        allowed: the cost was admitted (and consumed).
        limit: the most the limiter can admit at once (burst, bucket capacity, or N per window).
        remaining: what could still be admitted right after this decision.
        retry_after: seconds until the same cost could be admitted (0 when allowed;
            ``inf`` when it never can, because it exceeds ``limit``).
        reset_after: seconds until the limiter is back to its full ``limit``.
        policy: the algorithm (with its parameters) that made the decision.
        limiter: the name of the limiter (``"api"``, or ``"api/user"`` for one tier).
        tiers: for a composite limiter, the decision of every tier; otherwise empty.

    Example::

        decision = limiter.try_acquire()
        if not decision.allowed:
            return Response(status=429, headers=decision.headers())
    """

    allowed: bool
    limit: float
    remaining: float
    retry_after: float
    reset_after: float
    policy: Algorithm
    limiter: str
    tiers: tuple[Decision, ...] = ()

    def headers(self, *, legacy: bool = True, ietf: bool = True) -> dict[str, str]:
        """Render HTTP response headers: ``Retry-After`` (when refused), the common
        ``X-RateLimit-Limit/-Remaining/-Reset`` (*legacy*) and the IETF ``RateLimit`` and
        ``RateLimit-Policy`` fields (*ietf*). All times are delta-seconds, rounded up."""
        return render_headers(self, legacy=legacy, ietf=ietf)


new_decision = tuple.__new__
"""``new_decision(Decision, (...8 fields...))``: a Decision without the keyword machinery."""


# The ranges every parameter must lie in. Outside them a derived quantity (``1 / rate``, the
# refill time ``burst / rate``, a header's quota per whole second) overflows or divides by
# zero: a rate of 2.2e-313 per second has an infinite interval, a window of 1e-320 s a
# division by zero. Inside them every float the algorithms and headers compute is finite.
MIN_RATE, MAX_RATE = 1e-9, 1e15
"""Units per second: from one per ~32 years to 10^15 per second."""
MAX_AMOUNT = 1e15
"""The largest burst, capacity or limit (the smallest is 1)."""
MIN_WINDOW, MAX_WINDOW = 1e-6, 1e9
"""Window lengths in seconds: from a microsecond to ~32 years."""


def require_number(owner: str, field: str, value: object, low: float, high: float,
                   *, low_open: bool = False) -> None:
    """Raise :class:`~streamguard.core.ConfigError` naming ``owner.field``, the rule and the
    value unless *value* is an int or float (a ``bool`` is not a number here) within
    ``[low, high]`` (``(low, high]`` when *low_open*)."""
    from streamguard.core._errors import ConfigError

    lower = f"> {low:g}" if low_open else f">= {low:g}"
    rule = f"{owner}.{field} must be a number {lower} and <= {high:g}"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{rule} (int or float, not {type(value).__name__}), got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and (number > low if low_open else number >= low)
            and number <= high):
        raise ConfigError(f"{rule}, got {value!r}")


def window_index(now: float, width: float) -> float:
    """The index ``k`` of the aligned window holding *now*: ``k * width <= now < (k+1) * width``
    as computed in floats. Plain ``now // width`` disagrees with that product at boundaries
    (``0.3 // 0.1 == 2.0``), and a waiter told to come back at the boundary would find the
    old window still open and be told to wait 0 seconds, forever."""
    index = now // width
    if (index + 1.0) * width <= now:
        return index + 1.0
    if index * width > now:
        return index - 1.0
    return index


def until(now: float, when: float) -> float:
    """Seconds from *now* to *when*, rounded up so that ``now + result >= when`` holds in
    floats: a caller who waits that long must find the moment reached, not one ulp short."""
    delay = when - now
    while now + delay < when:
        delay = math.nextafter(delay, INF)
    return delay


class Algorithm(ABC):
    """A rate-limit policy: frozen parameters plus the math that enforces them.

    Subclasses are frozen keyword-only dataclasses whose ``__post_init__`` validates the
    parameters with messages that name the rule and the value.
    """

    __slots__ = ()

    kind: ClassVar[str]
    """Stable identifier, also the name of the Lua file that implements it for Redis."""

    @property
    @abstractmethod
    def limit(self) -> float:
        """The most that can be admitted at once; a larger cost is never admitted."""

    @property
    @abstractmethod
    def quota(self) -> float:
        """Quota of the policy over :attr:`window` (the IETF ``RateLimit-Policy`` ``q``)."""

    @property
    @abstractmethod
    def window(self) -> float:
        """Seconds over which :attr:`quota` applies (the IETF ``RateLimit-Policy`` ``w``)."""

    @property
    def max_queued(self) -> float:
        """The most cost that may wait for this policy in one limiter queue (unbounded here;
        the shaper's ``capacity``)."""
        return INF

    @abstractmethod
    def max_admitted(self, window: float, max_cost: float = 1.0) -> float:
        """The worst case: the most cost admitted in any time window of *window* seconds,
        when no single item costs more than *max_cost*. This is the documented bound the
        property tests check."""

    @abstractmethod
    def new_state(self, limiter: str) -> State:
        """A fresh (full, idle) state for one key of the limiter named *limiter*."""

    @abstractmethod
    def lua_params(self) -> tuple[float, float]:
        """The two numbers the Lua implementation needs (e.g. rate and burst)."""


class State(ABC):
    """The per-key state of one algorithm in local memory.

    ``blocked_until`` holds a penalty (a downstream's ``Retry-After``): until then every cost
    is refused, whatever the algorithm would say.
    """

    __slots__ = ("blocked_until", "limiter", "policy")

    def __init__(self, policy: Algorithm, limiter: str) -> None:
        self.policy = policy
        self.limiter = limiter
        self.blocked_until = -INF

    @abstractmethod
    def decide(self, now: float, cost: float, commit: bool = True) -> Decision:
        """Decide whether *cost* may pass at time *now*; consume it when allowed and *commit*.

        With ``commit=False`` nothing changes (a composite limiter checks every tier first).
        """

    def take(self, now: float, cost: float) -> bool:
        """Consume *cost* if it passes now; True if it did. Same outcome as :meth:`decide`,
        without building the :class:`Decision` (the not-limited fast path of ``acquire``).
        Algorithms whose decision is expensive to report override this."""
        return self.decide(now, cost).allowed

    @abstractmethod
    def idle_at(self) -> float:
        """The time from which this state equals a fresh one (so evicting it loses nothing)."""

    def evictable(self, now: float) -> bool:
        """True when forgetting this state changes no future decision."""
        return self.idle_at() <= now and self.blocked_until <= now

    def penalize(self, until: float) -> None:
        """Refuse everything until time *until* (never shortens an earlier penalty)."""
        if until > self.blocked_until:
            self.blocked_until = until

    def _blocked(self, now: float, cost: float) -> Decision:
        # The penalty path is rare, so it may ask the algorithm for its view without committing.
        d = self.decide_unblocked(now, cost)
        wait = self.blocked_until - now
        retry = d.retry_after if d.retry_after > wait else wait
        reset = d.reset_after if d.reset_after > wait else wait
        return Decision(False, d.limit, d.remaining, retry, reset, self.policy, self.limiter)

    def decide_unblocked(self, now: float, cost: float) -> Decision:
        """:meth:`decide` without committing and as if no penalty were in force."""
        saved = self.blocked_until
        self.blocked_until = -INF
        try:
            return self.decide(now, cost, commit=False)
        finally:
            self.blocked_until = saved
