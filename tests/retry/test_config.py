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
    ({"base_delay": 0}, "base_delay must be > 0 seconds, got 0"),
    ({"multiplier": 0.9}, "multiplier must be >= 1, got 0.9"),
    ({"base_delay": 2, "max_delay": 1}, "max_delay must be >= base_delay=2, got 1"),
    ({"retry_on": OSError}, "retry_on must be a tuple of exception classes, got <class 'OSError'>"),
    ({"retry_if": "yes"}, "retry_if must be a callable (exception) -> bool or None, got 'yes'"),
    ({"max_retry_after": 0}, "max_retry_after must be > 0 seconds, got 0"),
])
def test_retry_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        RetryConfig(**kwargs)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"ratio": -0.1}, "ratio must be >= 0, got -0.1"),
    ({"min_per_second": float("nan")}, "min_per_second must be >= 0, got nan"),
    ({"window": 0}, "window must be an int >= 1 (seconds), got 0"),
    ({"window": 1.5}, "window must be an int >= 1 (seconds), got 1.5"),
])
def test_budget_rule(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        BudgetConfig(**kwargs)


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        RetryConfig().attempts = 5  # type: ignore[misc]
