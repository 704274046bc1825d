"""Drive a limiter on a virtual clock and measure what it admitted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from streamguard.core import EventBus
from streamguard.ratelimit import Algorithm, RateLimiter
from streamguard.testing import VirtualClock

Admission = tuple[float, float]  # (time, cost)


def limiter_on(algorithm: Algorithm, clock: VirtualClock, name: str = "sim") -> RateLimiter:
    """A memory limiter on *clock*, publishing to a private bus."""
    return RateLimiter(name, algorithm, clock=clock, bus=EventBus())


def offer(algorithm: Algorithm, arrivals: Iterable[tuple[float, float]]) -> list[Admission]:
    """Offer each ``(gap, cost)`` after *gap* seconds; return what was admitted."""
    clock = VirtualClock()
    limiter = limiter_on(algorithm, clock)
    admitted: list[Admission] = []
    for gap, cost in arrivals:
        clock.tick(gap)
        if limiter.try_acquire(cost).allowed:
            admitted.append((clock.now(), cost))
    return admitted


def saturate(algorithm: Algorithm, duration: float, cost: float = 1.0) -> list[Admission]:
    """Ask for *cost* again and again for *duration* seconds, sleeping exactly as long as
    each refusal's ``retry_after`` says (an always-hungry, perfectly obedient client)."""
    clock = VirtualClock()
    limiter = limiter_on(algorithm, clock)
    admitted: list[Admission] = []
    while clock.now() <= duration:
        decision = limiter.try_acquire(cost)
        if decision.allowed:
            admitted.append((clock.now(), cost))
        else:
            clock.tick(decision.retry_after)
    return admitted


def max_in_window(admitted: Sequence[Admission], width: float, *, closed: bool) -> float:
    """The largest cost admitted in any window of *width* seconds: closed ``[t, t + width]``
    windows, or half-open ``(t - width, t]`` ones when *closed* is false."""
    best = 0.0
    total = 0.0
    lo = 0
    for hi in range(len(admitted)):
        total += admitted[hi][1]
        end = admitted[hi][0]
        while (end - admitted[lo][0] > width) if closed else (admitted[lo][0] + width <= end):
            total -= admitted[lo][1]
            lo += 1
        best = max(best, total)
    return best


def per_aligned_window(admitted: Sequence[Admission], width: float) -> dict[int, float]:
    """Admitted cost per aligned window ``[k * width, (k + 1) * width)``."""
    out: dict[int, float] = {}
    for when, cost in admitted:
        k = int(when // width)
        out[k] = out.get(k, 0.0) + cost
    return out


def admitted_between(admitted: Sequence[Admission], start: float, end: float) -> float:
    """Cost admitted in ``(start, end]``."""
    return sum(cost for when, cost in admitted if start < when <= end)
