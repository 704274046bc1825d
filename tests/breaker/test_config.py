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


FRACTION = "must be a number in (0, 1]"
SECONDS = "must be a number > 0 (seconds)"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"failure_rate_threshold": 0}, f"failure_rate_threshold {FRACTION}, got 0"),
    ({"failure_rate_threshold": 50}, f"failure_rate_threshold {FRACTION}, got 50"),
    ({"slow_call_rate_threshold": 1.5}, f"slow_call_rate_threshold {FRACTION}, got 1.5"),
    ({"slow_call_duration": 0}, f"slow_call_duration {SECONDS} or None, got 0"),
    ({"slow_call_duration": float("inf")}, f"slow_call_duration {SECONDS} or None, got inf"),
    ({"window": "calls"}, "window must be 'count' or 'time', got 'calls'"),
    ({"window_size": 0}, "window_size must be an int >= 1, got 0"),
    ({"window_size": 2.5}, "window_size must be an int >= 1, got 2.5"),
    ({"minimum_calls": 0}, "minimum_calls must be an int >= 1, got 0"),
    ({"window_size": 10, "minimum_calls": 11},
     "minimum_calls must be <= window_size=10 for a count window (it could never be reached), "
     "got 11"),
    ({"open_duration": 0}, f"open_duration {SECONDS}, got 0"),
    ({"open_duration": float("nan")}, f"open_duration {SECONDS}, got nan"),
    ({"open_duration_multiplier": 0.5}, "open_duration_multiplier must be a number >= 1, got 0.5"),
    ({"open_duration": 60, "max_open_duration": 30},
     "max_open_duration must be a number >= open_duration=60, got 30"),
    ({"open_duration_jitter": 1.0}, "open_duration_jitter must be a number in [0, 1), got 1.0"),
    ({"open_duration_jitter": -0.1}, "open_duration_jitter must be a number in [0, 1), got -0.1"),
    ({"half_open_probes": 0}, "half_open_probes must be an int >= 1, got 0"),
    ({"half_open_successes": 0}, "half_open_successes must be an int >= 1, got 0"),
    ({"probe_timeout": -1}, f"probe_timeout {SECONDS}, got -1"),
    ({"record_exceptions": ValueError},
     "record_exceptions must be a tuple of exception classes, got <class 'ValueError'>"),
    ({"ignore_exceptions": (ValueError, "x")},
     "ignore_exceptions must be a tuple of exception classes, got (<class 'ValueError'>, 'x')"),
    ({"is_failure": 3},
     "is_failure must be a plain (not async) callable (exception) -> bool, or None, got 3"),
])
def test_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        BreakerConfig(**kwargs)


async def _async_is_failure(error: BaseException) -> bool:
    return True


# Wrong types (#9, item 8): each is a ConfigError naming the field and the value, never a
# bare TypeError from a comparison; a bool is not a number.
@pytest.mark.parametrize(("field", "value"), [
    ("failure_rate_threshold", None), ("failure_rate_threshold", "0.5"),
    ("failure_rate_threshold", True),
    ("slow_call_duration", "1"), ("slow_call_duration", True),
    ("slow_call_rate_threshold", None),
    ("window", None), ("window", ["count"]),
    ("window_size", None), ("window_size", True), ("window_size", "20"),
    ("minimum_calls", None), ("minimum_calls", True),
    ("open_duration", None), ("open_duration", "30"), ("open_duration", True),
    ("open_duration_multiplier", None), ("open_duration_multiplier", True),
    ("max_open_duration", None), ("max_open_duration", "300"),
    ("open_duration_jitter", None), ("open_duration_jitter", False),
    ("half_open_probes", True), ("half_open_probes", None), ("half_open_probes", 1.0),
    ("half_open_successes", True), ("half_open_successes", "1"),
    ("probe_timeout", None), ("probe_timeout", True),
    ("record_exceptions", None), ("record_exceptions", [ValueError]),
    ("ignore_exceptions", None),
    ("is_failure", "yes"), ("is_failure", _async_is_failure),
])
def test_a_wrong_type_names_the_field_and_the_value(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(field)} must be .*, got "
                                          f"{re.escape(repr(value))}$"):
        BreakerConfig(**{field: value})


def test_every_field_has_a_type_check() -> None:
    checked = {"failure_rate_threshold", "slow_call_duration", "slow_call_rate_threshold",
               "window", "window_size", "minimum_calls", "open_duration",
               "open_duration_multiplier", "max_open_duration", "open_duration_jitter",
               "half_open_probes", "half_open_successes", "probe_timeout", "record_exceptions",
               "ignore_exceptions", "is_failure"}
    assert set(BreakerConfig.__dataclass_fields__) == checked


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
