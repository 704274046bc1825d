"""Every rule of BreakerConfig, with the exact message that names the rule and the value."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streamguard.breaker import BreakerConfig
from streamguard.core import ConfigError


def test_defaults_are_resilience4j_like() -> None:
    c = BreakerConfig()
    assert (c.failure_rate_threshold, c.window, c.window_size, c.minimum_calls) == (
        0.5, "count", 20, 20)
    assert (c.open_duration, c.half_open_probes, c.half_open_successes) == (30.0, 1, 1)
    assert c.slow_call_duration is None
    assert c.record_exceptions == (Exception,)
    assert c.ignore_exceptions == ()


def test_is_frozen_and_keyword_only() -> None:
    c = BreakerConfig()
    with pytest.raises(AttributeError):
        c.open_duration = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        BreakerConfig(0.5)  # type: ignore[call-arg]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"failure_rate_threshold": 0}, "failure_rate_threshold must be a fraction in (0, 1], got 0"),
    ({"failure_rate_threshold": 50}, "failure_rate_threshold must be a fraction in (0, 1], got 50"),
    ({"slow_call_rate_threshold": 1.5},
     "slow_call_rate_threshold must be a fraction in (0, 1], got 1.5"),
    ({"slow_call_duration": 0}, "slow_call_duration must be > 0 seconds or None, got 0"),
    ({"slow_call_duration": float("inf")},
     "slow_call_duration must be > 0 seconds or None, got inf"),
    ({"window": "calls"}, "window must be 'count' or 'time', got 'calls'"),
    ({"window_size": 0}, "window_size must be an int >= 1, got 0"),
    ({"window_size": 2.5}, "window_size must be an int >= 1, got 2.5"),
    ({"minimum_calls": 0}, "minimum_calls must be an int >= 1, got 0"),
    ({"window_size": 10, "minimum_calls": 11},
     "minimum_calls must be <= window_size=10 for a count window (it could never be reached), "
     "got 11"),
    ({"open_duration": 0}, "open_duration must be > 0 seconds, got 0"),
    ({"open_duration": float("nan")}, "open_duration must be > 0 seconds, got nan"),
    ({"open_duration_multiplier": 0.5}, "open_duration_multiplier must be >= 1, got 0.5"),
    ({"open_duration": 60, "max_open_duration": 30},
     "max_open_duration must be >= open_duration=60, got 30"),
    ({"open_duration_jitter": 1.0}, "open_duration_jitter must be a fraction in [0, 1), got 1.0"),
    ({"open_duration_jitter": -0.1},
     "open_duration_jitter must be a fraction in [0, 1), got -0.1"),
    ({"half_open_probes": 0}, "half_open_probes must be an int >= 1, got 0"),
    ({"half_open_successes": 0}, "half_open_successes must be an int >= 1, got 0"),
    ({"probe_timeout": -1}, "probe_timeout must be > 0 seconds, got -1"),
    ({"record_exceptions": ValueError},
     "record_exceptions must be a tuple of exception classes, got <class 'ValueError'>"),
    ({"ignore_exceptions": (ValueError, "x")},
     "ignore_exceptions must be a tuple of exception classes, got (<class 'ValueError'>, 'x')"),
    ({"is_failure": 3}, "is_failure must be a callable (exception) -> bool or None, got 3"),
])
def test_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        BreakerConfig(**kwargs)


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="window_size"):
        BreakerConfig(window_size=-1)


def test_time_window_may_need_more_calls_than_seconds() -> None:
    assert BreakerConfig(window="time", window_size=5, minimum_calls=100).minimum_calls == 100


def test_open_duration_grows_and_is_capped() -> None:
    c = BreakerConfig(open_duration=1, open_duration_multiplier=2, max_open_duration=5)
    assert [c.open_duration_for(k, 0.0) for k in range(5)] == [1, 2, 4, 5, 5]
    assert c.open_duration_for(10_000, 0.0) == 5  # no overflow however long it failed


def test_open_duration_jitter_only_shortens() -> None:
    c = BreakerConfig(open_duration=10, open_duration_jitter=0.2)
    assert c.open_duration_for(0, 0.0) == 10
    assert c.open_duration_for(0, 0.5) == pytest.approx(9)
    assert c.open_duration_for(0, 0.999999) == pytest.approx(8, abs=1e-4)


def test_constant_by_default() -> None:
    assert BreakerConfig().open_duration_for(7, 0.3) == 30
