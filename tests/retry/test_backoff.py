"""Backoff bounds and distributions, from a seeded random source (nothing sleeps)."""

from __future__ import annotations

import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamguard.retry import RetryConfig
from streamguard.retry._config import ceiling, next_delay

CONFIG = RetryConfig(base_delay=0.1, multiplier=2, max_delay=1.0)


def test_ceiling_grows_exponentially_and_is_capped() -> None:
    assert [ceiling(CONFIG, n) for n in range(1, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert ceiling(CONFIG, 10_000) == 1.0  # no overflow


def test_exponential_has_no_jitter() -> None:
    c = RetryConfig(backoff="exponential", base_delay=0.5, multiplier=3, max_delay=10)
    rng = random.Random(0)
    assert [next_delay(c, n, 0.0, rng) for n in (1, 2, 3, 4)] == [0.5, 1.5, 4.5, 10]


@given(seed=st.integers(0, 2**32), retry=st.integers(1, 50))
def test_full_jitter_stays_within_zero_and_the_ceiling(seed: int, retry: int) -> None:
    delay = next_delay(CONFIG, retry, 0.0, random.Random(seed))
    assert 0.0 <= delay <= ceiling(CONFIG, retry)


def test_full_jitter_is_spread_over_the_whole_range() -> None:
    rng = random.Random(42)
    samples = [next_delay(CONFIG, 5, 0.0, rng) for _ in range(10_000)]
    assert statistics.fmean(samples) == pytest.approx(0.5, abs=0.02)
    assert min(samples) < 0.01
    assert max(samples) > 0.99


@given(seed=st.integers(0, 2**32), previous=st.floats(0.1, 5.0))
def test_decorrelated_jitter_bounds(seed: int, previous: float) -> None:
    c = RetryConfig(backoff="decorrelated_jitter", base_delay=0.1, max_delay=1.0)
    delay = next_delay(c, 3, previous, random.Random(seed))
    assert 0.1 <= delay <= min(1.0, 3 * previous)


def test_decorrelated_jitter_walks_from_the_previous_wait() -> None:
    c = RetryConfig(backoff="decorrelated_jitter", base_delay=0.1, max_delay=100.0)
    rng, delay, seen = random.Random(7), 0.1, []
    for n in range(1, 30):
        delay = next_delay(c, n, delay, rng)
        seen.append(delay)
    assert max(seen) > 1.0  # it grows from the previous wait, not from base_delay
    assert all(0.1 <= d <= 100.0 for d in seen)


def test_same_seed_same_delays() -> None:
    a = [next_delay(CONFIG, n, 0.0, random.Random(3)) for n in range(1, 5)]
    b = [next_delay(CONFIG, n, 0.0, random.Random(3)) for n in range(1, 5)]
    assert a == b
