"""`BreakerConfig`: when a circuit breaker opens, how long it stays open, how it probes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..core._errors import require


def _exception_types(value: object) -> bool:
    return isinstance(value, tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value)


@dataclass(frozen=True, kw_only=True, slots=True)
class BreakerConfig:
    """The rules of a :class:`~streamguard.breaker.CircuitBreaker` (resilience4j's shape).

    The defaults open the breaker when at least half of the last 20 calls failed, judge only
    once 20 calls were seen (so one failure at low volume does not trip it), stay open 30 s,
    then let one probe call through; one successful probe closes it.

    Attributes:
        failure_rate_threshold: open when failures / calls reaches this fraction (0, 1].
            Default 0.5.
        slow_call_duration: a call taking at least this many seconds is slow; ``None``
            (default) does not track slow calls, which keeps the clock off the hot path.
        slow_call_rate_threshold: open when slow calls / calls reaches this fraction (0, 1].
            Default 1.0 (all of them). Used only with ``slow_call_duration``.
        window: ``"count"`` (default): the last ``window_size`` calls; ``"time"``: the calls
            of the last ``window_size`` seconds, in 1 s buckets.
        window_size: calls (count window) or seconds (time window), >= 1. Default 20.
        minimum_calls: calls the window must hold before the rates are judged, >= 1.
            Default 20. For a count window it must not exceed ``window_size``.
        open_duration: seconds the first opening lasts, > 0. Default 30.
        open_duration_multiplier: each consecutive re-opening (a failed probe) lasts this
            many times longer, >= 1, so a breaker on a dead downstream does not flap.
            Default 1.0 (constant). Closing resets the growth.
        max_open_duration: the cap of the growing open duration, >= ``open_duration``.
            Default 300.
        open_duration_jitter: shorten each open duration by a random fraction in
            ``[0, jitter)``, so breakers of many workers do not probe in lockstep; in
            [0, 1). Default 0.
        half_open_probes: probe calls in flight at once in ``HALF_OPEN``, >= 1. Default 1,
            so a recovering downstream sees no stampede.
        half_open_successes: successful probes needed to close, >= 1. Default 1. A failed
            or slow probe re-opens at once.
        probe_timeout: a probe without a result after this many seconds counts as failed, so
            a lost probe cannot leave the breaker stuck in ``HALF_OPEN``; > 0. Default 60.
        record_exceptions: exception types counted as failures. Default ``(Exception,)``.
            An exception of neither list counts as a success, as in resilience4j.
        ignore_exceptions: exception types that count as nothing. Default ``()``.
        is_failure: if given, decides for every exception not ignored whether it counts as
            a failure (instead of ``record_exceptions``).

    Whatever the lists say, cancellation (and any ``BaseException`` that is not an
    ``Exception``) never counts, and a throttled answer (see
    :class:`~streamguard.breaker.TooManyRequests`) never counts as a failure.

    Example::

        BreakerConfig(window="time", window_size=10, minimum_calls=50,
                      open_duration=5, open_duration_multiplier=2, max_open_duration=120)
    """

    failure_rate_threshold: float = 0.5
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 1.0
    window: Literal["count", "time"] = "count"
    window_size: int = 20
    minimum_calls: int = 20
    open_duration: float = 30.0
    open_duration_multiplier: float = 1.0
    max_open_duration: float = 300.0
    open_duration_jitter: float = 0.0
    half_open_probes: int = 1
    half_open_successes: int = 1
    probe_timeout: float = 60.0
    record_exceptions: tuple[type[BaseException], ...] = (Exception,)
    ignore_exceptions: tuple[type[BaseException], ...] = ()
    is_failure: Callable[[BaseException], bool] | None = None

    def __post_init__(self) -> None:
        self._check_rates()
        self._check_window()
        self._check_open()
        self._check_half_open()
        self._check_exceptions()

    def _check_rates(self) -> None:
        require(0 < self.failure_rate_threshold <= 1,
                "failure_rate_threshold must be a fraction in (0, 1]", self.failure_rate_threshold)
        require(0 < self.slow_call_rate_threshold <= 1,
                "slow_call_rate_threshold must be a fraction in (0, 1]",
                self.slow_call_rate_threshold)
        require(self.slow_call_duration is None
                or (self.slow_call_duration > 0 and math.isfinite(self.slow_call_duration)),
                "slow_call_duration must be > 0 seconds or None", self.slow_call_duration)

    def _check_window(self) -> None:
        require(self.window in ("count", "time"), "window must be 'count' or 'time'", self.window)
        require(isinstance(self.window_size, int) and self.window_size >= 1,
                "window_size must be an int >= 1", self.window_size)
        require(isinstance(self.minimum_calls, int) and self.minimum_calls >= 1,
                "minimum_calls must be an int >= 1", self.minimum_calls)
        require(self.window == "time" or self.minimum_calls <= self.window_size,
                f"minimum_calls must be <= window_size={self.window_size} for a count window "
                "(it could never be reached)", self.minimum_calls)

    def _check_open(self) -> None:
        require(math.isfinite(self.open_duration) and self.open_duration > 0,
                "open_duration must be > 0 seconds", self.open_duration)
        require(math.isfinite(self.open_duration_multiplier)
                and self.open_duration_multiplier >= 1,
                "open_duration_multiplier must be >= 1", self.open_duration_multiplier)
        require(math.isfinite(self.max_open_duration)
                and self.max_open_duration >= self.open_duration,
                f"max_open_duration must be >= open_duration={self.open_duration:g}",
                self.max_open_duration)
        require(0 <= self.open_duration_jitter < 1,
                "open_duration_jitter must be a fraction in [0, 1)", self.open_duration_jitter)

    def _check_half_open(self) -> None:
        require(isinstance(self.half_open_probes, int) and self.half_open_probes >= 1,
                "half_open_probes must be an int >= 1", self.half_open_probes)
        require(isinstance(self.half_open_successes, int) and self.half_open_successes >= 1,
                "half_open_successes must be an int >= 1", self.half_open_successes)
        require(math.isfinite(self.probe_timeout) and self.probe_timeout > 0,
                "probe_timeout must be > 0 seconds", self.probe_timeout)

    def _check_exceptions(self) -> None:
        require(_exception_types(self.record_exceptions),
                "record_exceptions must be a tuple of exception classes", self.record_exceptions)
        require(_exception_types(self.ignore_exceptions),
                "ignore_exceptions must be a tuple of exception classes", self.ignore_exceptions)
        require(self.is_failure is None or callable(self.is_failure),
                "is_failure must be a callable (exception) -> bool or None", self.is_failure)

    def open_duration_for(self, reopens: int, unit: float) -> float:
        """Seconds the breaker stays open after *reopens* consecutive re-openings; *unit* is
        a random number in [0, 1) that picks the jitter."""
        base = self.open_duration
        if reopens > 0 and self.open_duration_multiplier > 1:
            # Past the cap more growth changes nothing; stopping there avoids float overflow.
            steps = math.log(self.max_open_duration / base, self.open_duration_multiplier)
            growth = self.open_duration_multiplier ** min(reopens, math.ceil(steps))
            base = min(self.max_open_duration, base * growth)
        return base * (1.0 - self.open_duration_jitter * unit)
