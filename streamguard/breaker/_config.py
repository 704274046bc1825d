"""`BreakerConfig`: when a circuit breaker opens, how long it stays open, how it probes;
and :func:`classify`, how an exception counts under those rules."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Literal

from ..core._checks import exception_types, is_async_callable, is_int, is_number
from ..core._errors import require
from ..core._signals import is_throttled

WindowKind = Literal["count", "time"]
"""The sliding window's kind: the last N calls, or the calls of the last N seconds."""


def _fraction(value: object, low_open: bool = True) -> bool:
    """A number in (0, 1] (or [0, 1) when not *low_open*)."""
    if not is_number(value) or not isinstance(value, int | float):
        return False
    return (0 < value <= 1) if low_open else (0 <= value < 1)


def _seconds(value: object) -> bool:
    """A finite number of seconds > 0."""
    if not is_number(value) or not isinstance(value, int | float):
        return False
    return math.isfinite(value) and value > 0


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
    :class:`~streamguard.core.TooManyRequests`) never counts as a failure.

    Example::

        BreakerConfig(window="time", window_size=10, minimum_calls=50,
                      open_duration=5, open_duration_multiplier=2, max_open_duration=120)
    """

    failure_rate_threshold: float = 0.5
    slow_call_duration: float | None = None
    slow_call_rate_threshold: float = 1.0
    window: WindowKind = "count"
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
        require(_fraction(self.failure_rate_threshold),
                "failure_rate_threshold must be a number in (0, 1]", self.failure_rate_threshold)
        require(_fraction(self.slow_call_rate_threshold),
                "slow_call_rate_threshold must be a number in (0, 1]",
                self.slow_call_rate_threshold)
        require(self.slow_call_duration is None or _seconds(self.slow_call_duration),
                "slow_call_duration must be a number > 0 (seconds) or None",
                self.slow_call_duration)

    def _check_window(self) -> None:
        require(self.window in ("count", "time"), "window must be 'count' or 'time'", self.window)
        require(is_int(self.window_size) and self.window_size >= 1,
                "window_size must be an int >= 1", self.window_size)
        require(is_int(self.minimum_calls) and self.minimum_calls >= 1,
                "minimum_calls must be an int >= 1", self.minimum_calls)
        require(self.window == "time" or self.minimum_calls <= self.window_size,
                f"minimum_calls must be <= window_size={self.window_size} for a count window "
                "(it could never be reached)", self.minimum_calls)

    def _check_open(self) -> None:
        require(_seconds(self.open_duration),
                "open_duration must be a number > 0 (seconds)", self.open_duration)
        require(is_number(self.open_duration_multiplier)
                and math.isfinite(self.open_duration_multiplier)
                and self.open_duration_multiplier >= 1,
                "open_duration_multiplier must be a number >= 1", self.open_duration_multiplier)
        require(_seconds(self.max_open_duration)
                and self.max_open_duration >= self.open_duration,
                f"max_open_duration must be a number >= open_duration={self.open_duration:g}",
                self.max_open_duration)
        require(_fraction(self.open_duration_jitter, low_open=False),
                "open_duration_jitter must be a number in [0, 1)", self.open_duration_jitter)

    def _check_half_open(self) -> None:
        require(is_int(self.half_open_probes) and self.half_open_probes >= 1,
                "half_open_probes must be an int >= 1", self.half_open_probes)
        require(is_int(self.half_open_successes) and self.half_open_successes >= 1,
                "half_open_successes must be an int >= 1", self.half_open_successes)
        require(_seconds(self.probe_timeout),
                "probe_timeout must be a number > 0 (seconds)", self.probe_timeout)

    def _check_exceptions(self) -> None:
        require(exception_types(self.record_exceptions),
                "record_exceptions must be a tuple of exception classes", self.record_exceptions)
        require(exception_types(self.ignore_exceptions),
                "ignore_exceptions must be a tuple of exception classes", self.ignore_exceptions)
        require(self.is_failure is None
                or (callable(self.is_failure) and not is_async_callable(self.is_failure)),
                "is_failure must be a plain (not async) callable (exception) -> bool, or None",
                self.is_failure)

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


class Verdict(Enum):
    """What a finished call means for the breaker's window."""

    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    THROTTLED = "throttled"
    IGNORED = "ignored"


def classify(config: BreakerConfig, error: BaseException) -> Verdict:
    """Judge *error* by the config's rules.

    Cancellation and other non-``Exception`` exits say nothing about the downstream, and a
    throttled answer means it is alive and asking us to slow down: neither trips a breaker.
    """
    if not isinstance(error, Exception):
        return Verdict.CANCELLED
    if is_throttled(error):
        return Verdict.THROTTLED
    if config.ignore_exceptions and isinstance(error, config.ignore_exceptions):
        return Verdict.IGNORED
    if config.is_failure is not None:
        return Verdict.FAILURE if config.is_failure(error) else Verdict.SUCCESS
    if isinstance(error, config.record_exceptions):
        return Verdict.FAILURE
    return Verdict.SUCCESS
