"""Property tests of the seven algorithms on a virtual clock (nothing sleeps).

For every algorithm: in every window its definition talks about, the admitted cost never
exceeds the documented bound (``Algorithm.max_admitted``); under saturation the long-run rate
is the configured one within 0.1%; a refused cost passes when retried exactly
``retry_after`` later. GCRA and the leaky-bucket meter agree with the token bucket decision
by decision.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamguard.core import ConfigError, EventBus
from streamguard.ratelimit import (
    GCRA,
    Algorithm,
    FixedWindow,
    LeakyBucketMeter,
    LeakyBucketShaper,
    RateLimiter,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
)
from streamguard.testing import VirtualClock

from ._simulate import (
    admitted_between,
    limiter_on,
    max_in_window,
    offer,
    per_aligned_window,
    saturate,
)

PROPERTY = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

rates = st.integers(1, 2000).map(lambda x: x / 2)            # 0.5 .. 1000 per second
bursts = st.integers(2, 40).map(lambda x: x / 2)             # 1 .. 20, halves included
limits = st.integers(1, 30).map(float)
windows = st.integers(1, 50).map(lambda x: x / 10)            # 0.1 .. 5 s

rate_based = st.one_of(
    st.builds(TokenBucket, rate=rates, burst=bursts),
    st.builds(GCRA, rate=rates, burst=bursts),
    st.builds(LeakyBucketMeter, rate=rates, capacity=bursts),
    st.builds(LeakyBucketShaper, rate=rates, capacity=bursts),
)
window_based = st.one_of(
    st.builds(FixedWindow, limit=limits, window=windows),
    st.builds(SlidingWindowLog, limit=limits, window=windows),
    st.builds(SlidingWindowCounter, limit=limits, window=windows),
)
algorithms = st.one_of(rate_based, window_based)


def scale(algorithm: Algorithm) -> float:
    """The algorithm's natural time unit: one unit's spacing, or its window."""
    if isinstance(algorithm, FixedWindow | SlidingWindowLog | SlidingWindowCounter):
        return algorithm.window
    return algorithm.window / algorithm.quota


@st.composite
def traffic(draw: st.DrawFn) -> tuple[Algorithm, list[tuple[float, float]]]:
    """An algorithm and bursty arrivals: gaps from 0 to 3 time units, costs 1 to 3."""
    algorithm = draw(algorithms)
    unit = scale(algorithm)
    gaps = st.one_of(st.just(0.0), st.integers(0, 300).map(lambda k: k / 100 * unit))
    arrivals = draw(st.lists(st.tuples(gaps, st.integers(1, 3).map(float)),
                             min_size=1, max_size=300))
    return algorithm, arrivals


def widths(algorithm: Algorithm) -> list[float]:
    unit = scale(algorithm)
    return [0.0, 0.1 * unit, 0.5 * unit, unit, 2.5 * unit, 10 * unit]


# ---------------------------------------------------------------- the documented bound
@PROPERTY
@given(traffic())
def test_no_window_exceeds_the_documented_bound(case: tuple[Algorithm, list[tuple[float, float]]]
                                                ) -> None:
    algorithm, arrivals = case
    admitted = offer(algorithm, arrivals)
    max_cost = max((cost for _, cost in admitted), default=1.0)
    # The sliding log's windows are (t - w, t]; every other bound holds for closed windows.
    closed = not isinstance(algorithm, SlidingWindowLog)
    for width in widths(algorithm):
        if width == 0.0 and not closed:
            continue
        seen = max_in_window(admitted, width, closed=closed)
        assert seen <= algorithm.max_admitted(width, max_cost) + 1e-6, (width, seen)


@PROPERTY
@given(traffic())
def test_aligned_windows_hold_at_most_the_limit(case: tuple[Algorithm, list[tuple[float, float]]]
                                                ) -> None:
    algorithm, arrivals = case
    if not isinstance(algorithm, FixedWindow | SlidingWindowCounter | SlidingWindowLog):
        return
    admitted = offer(algorithm, arrivals)
    per_window = per_aligned_window(admitted, algorithm.window)
    assert max(per_window.values(), default=0.0) <= algorithm.limit + 1e-6


def _saturating(gap: float, count: int) -> list[tuple[float, float]]:
    return [(0.0, 1.0)] + [(gap, 1.0)] * count


def _boundary_burst(limit: int, gap: float, count: int) -> list[tuple[float, float]]:
    # A full window's worth just before a boundary, then a client that never stops asking.
    return [(0.999, 1.0)] + [(0.0, 1.0)] * (limit - 1) + [(gap, 1.0)] * count


@pytest.mark.parametrize(("algorithm", "arrivals", "width", "closed"), [
    (TokenBucket(rate=10, burst=5), _saturating(0.001, 3000), 1.0, True),
    (GCRA(rate=10, burst=5), _saturating(0.001, 3000), 1.0, True),
    (LeakyBucketMeter(rate=10, capacity=5), _saturating(0.001, 3000), 1.0, True),
    (FixedWindow(limit=5, window=1.0), _boundary_burst(5, 0.0005, 10), 0.5, True),
    (SlidingWindowLog(limit=5, window=1.0), _saturating(0.001, 3000), 1.0, False),
    (SlidingWindowCounter(limit=10, window=1.0), _boundary_burst(10, 0.001, 2000), 0.5, True),
], ids=lambda p: type(p).__name__ if isinstance(p, Algorithm) else "")
def test_the_documented_bound_is_reached(algorithm: Algorithm,
                                         arrivals: list[tuple[float, float]],
                                         width: float, closed: bool) -> None:
    # The bounds are not just safe but tight: worst-case traffic comes within one item.
    seen = max_in_window(offer(algorithm, arrivals), width, closed=closed)
    bound = algorithm.max_admitted(width)
    assert bound - 1.0 <= seen <= bound + 1e-9


def test_fixed_window_admits_twice_its_limit_across_a_boundary() -> None:
    algorithm = FixedWindow(limit=5, window=1.0)
    admitted = offer(algorithm, [(0.999, 1.0)] + [(0.0, 1.0)] * 4 + [(0.001, 1.0)]
                     + [(0.0, 1.0)] * 4)
    assert len(admitted) == 10
    assert max_in_window(admitted, 0.002, closed=True) == 10 == algorithm.max_admitted(0.002)


def test_sliding_counter_has_no_boundary_burst() -> None:
    algorithm = SlidingWindowCounter(limit=10, window=1.0)
    admitted = offer(algorithm, _boundary_burst(10, 0.02, 10))
    # Right after the boundary the previous window still weighs 99%: nothing more passes.
    assert max_in_window(admitted, 0.1, closed=True) == 10
    assert algorithm.max_admitted(0.1) == pytest.approx(11.0)


# ---------------------------------------------------------------- long-run rate
@settings(max_examples=25, deadline=None)
@given(st.one_of(
    rate_based,
    st.builds(FixedWindow, limit=st.integers(1, 50).map(float), window=windows),
    st.builds(SlidingWindowLog, limit=st.integers(1, 50).map(float), window=windows),
    # Its estimate costs up to one item per window (see its docstring): 0.1% needs N >= 1000.
    st.builds(SlidingWindowCounter, limit=st.integers(2000, 4000).map(float), window=windows),
))
def test_long_run_rate_is_the_configured_rate(algorithm: Algorithm) -> None:
    rate = algorithm.quota / algorithm.window
    start = 2.5 * max(algorithm.window, scale(algorithm))      # past the first burst
    span = max(2000 / rate, 3 * algorithm.window)
    span = math.ceil(span / algorithm.window) * algorithm.window  # whole windows
    admitted = saturate(algorithm, duration=start + span + algorithm.window)
    achieved = admitted_between(admitted, start, start + span) / span
    assert achieved == pytest.approx(rate, rel=1e-3)


# ---------------------------------------------------------------- retry_after is right
@PROPERTY
@given(traffic(), st.sampled_from([0.0, 1.7e9]))
def test_retry_after_is_exactly_when_a_refusal_would_pass(
        case: tuple[Algorithm, list[tuple[float, float]]], start: float) -> None:
    # 1.7e9: a clock that counts from the epoch (Redis TIME, wall clocks) rounds its readings
    # to 2.4e-7 s; a refusal must still pass when retried as told, not one ulp short.
    algorithm, arrivals = case
    state = algorithm.new_state("pure")
    now = start
    margin = 1e-6 + start * 1e-14
    for gap, cost in arrivals:
        now += gap
        decision = state.decide(now, cost)
        if decision.allowed:
            assert decision.retry_after == 0.0
        elif cost > algorithm.limit:
            assert decision.retry_after == math.inf
        else:
            retry = decision.retry_after
            assert retry > 0.0
            assert state.decide(now + retry, cost, commit=False).allowed
            if retry > margin:
                assert not state.decide(now + retry - margin, cost, commit=False).allowed


# ---------------------------------------------------------------- equivalences
@PROPERTY
@given(rates, bursts, st.lists(st.tuples(st.integers(0, 3000).map(lambda us: us / 1e4),
                                         st.integers(1, 25).map(float)), max_size=300))
def test_gcra_meter_and_token_bucket_agree_decision_by_decision(
        rate: float, burst: float, arrivals: list[tuple[float, float]]) -> None:
    clock = VirtualClock()
    bucket = limiter_on(TokenBucket(rate=rate, burst=burst), clock, "bucket")
    gcra = limiter_on(GCRA(rate=rate, burst=burst), clock, "gcra")
    meter = limiter_on(LeakyBucketMeter(rate=rate, capacity=burst), clock, "meter")
    for gap, cost in arrivals:
        clock.tick(gap / rate)
        expected = bucket.try_acquire(cost)
        for other in (gcra.try_acquire(cost), meter.try_acquire(cost)):
            assert other.allowed == expected.allowed
            assert other.retry_after == pytest.approx(expected.retry_after, rel=1e-9, abs=1e-9)
            assert other.remaining == pytest.approx(expected.remaining, rel=1e-9, abs=1e-9)


# ---------------------------------------------------------------- configuration
RATE = "must be a number >= 1e-09 and <= 1e+15"
AMOUNT = "must be a number >= 1 and <= 1e+15"
WINDOW = "must be a number >= 1e-06 and <= 1e+09"


@pytest.mark.parametrize(("build", "message"), [
    (lambda: TokenBucket(rate=0, burst=1), f"TokenBucket.rate {RATE}, got 0"),
    (lambda: TokenBucket(rate=-1.5, burst=1), f"TokenBucket.rate {RATE}, got -1.5"),
    (lambda: TokenBucket(rate=math.inf, burst=1), f"TokenBucket.rate {RATE}, got inf"),
    (lambda: TokenBucket(rate=1, burst=0.5), f"TokenBucket.burst {AMOUNT}, got 0.5"),
    (lambda: GCRA(rate=1, burst=0), f"GCRA.burst {AMOUNT}, got 0"),
    (lambda: LeakyBucketMeter(rate=1, capacity=0), f"LeakyBucketMeter.capacity {AMOUNT}, got 0"),
    (lambda: LeakyBucketShaper(rate=0, capacity=1), f"LeakyBucketShaper.rate {RATE}, got 0"),
    (lambda: FixedWindow(limit=0, window=1), f"FixedWindow.limit {AMOUNT}, got 0"),
    (lambda: SlidingWindowLog(limit=1, window=0), f"SlidingWindowLog.window {WINDOW}, got 0"),
    (lambda: SlidingWindowCounter(limit=1, window=-2),
     f"SlidingWindowCounter.window {WINDOW}, got -2"),
    # #9 item 8: values whose derived quantities overflowed (headers) or divided by zero.
    (lambda: GCRA(rate=10, burst=1e300), f"GCRA.burst {AMOUNT}, got 1e+300"),
    (lambda: TokenBucket(rate=2.2e-313, burst=5), f"TokenBucket.rate {RATE}, got 2.2e-313"),
    (lambda: SlidingWindowCounter(limit=10, window=1e-320),
     f"SlidingWindowCounter.window {WINDOW}, got 1e-320"),
    # Wrong types name the field; a bool is not a number.
    (lambda: TokenBucket(rate="5"),  # type: ignore[arg-type]
     f"TokenBucket.rate {RATE} (int or float, not str), got '5'"),
    (lambda: TokenBucket(rate=True),
     f"TokenBucket.rate {RATE} (int or float, not bool), got True"),
    (lambda: FixedWindow(limit=None),  # type: ignore[arg-type]
     f"FixedWindow.limit {AMOUNT} (int or float, not NoneType), got None"),
    (lambda: LeakyBucketShaper(rate=5, capacity=False),
     f"LeakyBucketShaper.capacity {AMOUNT} (int or float, not bool), got False"),
])
def test_bad_configuration_names_rule_and_value(build: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build()  # type: ignore[operator]
    assert str(info.value) == message


@pytest.mark.parametrize("algorithm", [
    GCRA(rate=1e-9, burst=1e15), TokenBucket(rate=1e15, burst=1), TokenBucket(rate=1e-9),
    LeakyBucketMeter(rate=1e-9, capacity=1e15), LeakyBucketShaper(rate=1e-9, capacity=1e15),
    FixedWindow(limit=1e15, window=1e-6), SlidingWindowLog(limit=1e15, window=1e9),
    SlidingWindowCounter(limit=1e15, window=1e-6), SlidingWindowCounter(limit=1, window=1e9),
])
def test_every_accepted_extreme_decides_and_renders_headers(algorithm: Algorithm) -> None:
    # #9 item 8: whatever validation accepts, deciding and rendering headers never raise.
    clock = VirtualClock(start=1.7e9)
    limiter = RateLimiter("edge", algorithm, clock=clock, bus=EventBus())
    for step in range(4):
        for decision in (limiter.try_acquire(), limiter.try_acquire(1e15)):
            headers = decision.headers()
            assert headers["X-RateLimit-Limit"].isdigit()
            assert all(math.isfinite(x) or x == math.inf
                       for x in (decision.retry_after, decision.reset_after))
        clock.tick(10.0 ** (step * 3 - 6))


def test_algorithms_are_frozen_and_keyword_only() -> None:
    bucket = TokenBucket(rate=1, burst=2)
    with pytest.raises(AttributeError):
        bucket.rate = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        TokenBucket(1, 2)  # type: ignore[call-arg]
