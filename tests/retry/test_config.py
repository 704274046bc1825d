"""Every rule of RetryConfig and BudgetConfig, with the exact message."""

from __future__ import annotations

import re
from typing import Any

import pytest

from streamguard.core import ConfigError
from streamguard.retry import BudgetConfig, RetryConfig


def test_defaults() -> None:
    c = RetryConfig()
    assert (c.attempts, c.backoff, c.base_delay, c.multiplier, c.max_delay) == (
        3, "full_jitter", 0.1, 2.0, 10.0)
    assert c.honour_retry_after
    b = BudgetConfig()
    assert (b.ratio, b.min_per_second, b.window) == (0.2, 10.0, 10)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"attempts": 0}, "attempts must be an int >= 1 (the first try included), got 0"),
    ({"attempts": 2.0}, "attempts must be an int >= 1 (the first try included), got 2.0"),
    ({"backoff": "linear"},
     "backoff must be 'full_jitter', 'decorrelated_jitter' or 'exponential', got 'linear'"),
    ({"base_delay": 0}, "base_delay must be a number > 0 (seconds), got 0"),
    ({"multiplier": 0.9}, "multiplier must be a number >= 1, got 0.9"),
    ({"base_delay": 2, "max_delay": 1}, "max_delay must be a number >= base_delay=2, got 1"),
    ({"retry_on": OSError}, "retry_on must be a tuple of exception classes, got <class 'OSError'>"),
    ({"never_retry_on": [TypeError]},
     "never_retry_on must be a tuple of exception classes, got [<class 'TypeError'>]"),
    ({"retry_if": "yes"},
     "retry_if must be a plain (not async) callable (exception) -> bool, or None, got 'yes'"),
    ({"max_retry_after": 0}, "max_retry_after must be a number > 0 (seconds), got 0"),
])
def test_retry_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RetryConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ratio": -0.1}, "ratio must be a number >= 0, got -0.1"),
    ({"min_per_second": float("nan")}, "min_per_second must be a number >= 0, got nan"),
    ({"window": 0}, "window must be an int >= 1 (seconds), got 0"),
    ({"window": 1.5}, "window must be an int >= 1 (seconds), got 1.5"),
])
def test_budget_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        BudgetConfig(**kwargs)


async def _async_retry_if(error: BaseException) -> bool:
    return True


# Wrong types (#9, item 8): a ConfigError naming the field and the value, never a bare
# TypeError from a comparison; a bool is not an int.
@pytest.mark.parametrize(("field", "value"), [
    ("attempts", True), ("attempts", None), ("attempts", "3"),
    ("backoff", None), ("backoff", ["exponential"]),
    ("base_delay", None), ("base_delay", "0.1"), ("base_delay", True),
    ("multiplier", None), ("multiplier", True),
    ("max_delay", None), ("max_delay", "10"),
    ("retry_on", None), ("never_retry_on", None),
    ("retry_if", _async_retry_if),  # an async predicate would return a coroutine: always truthy
    ("honour_retry_after", None), ("honour_retry_after", 1),
    ("max_retry_after", None), ("max_retry_after", False),
])
def test_a_wrong_type_names_the_field_and_the_value(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(field)} must be .*, got "
                                          f"{re.escape(repr(value))}$"):
        RetryConfig(**{field: value})


@pytest.mark.parametrize(("field", "value"), [
    ("ratio", None), ("ratio", "0.2"), ("ratio", True),
    ("min_per_second", None), ("min_per_second", True),
    ("window", True), ("window", None),
])
def test_a_wrong_budget_type_names_the_field_and_the_value(field: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(field)} must be .*, got "
                                          f"{re.escape(repr(value))}$"):
        BudgetConfig(**{field: value})


def test_every_field_has_a_type_check() -> None:
    assert set(RetryConfig.__dataclass_fields__) == {
        "attempts", "backoff", "base_delay", "multiplier", "max_delay", "retry_on",
        "never_retry_on", "retry_if", "honour_retry_after", "max_retry_after"}
    assert set(BudgetConfig.__dataclass_fields__) == {"ratio", "min_per_second", "window"}


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        RetryConfig().attempts = 5  # type: ignore[misc]
