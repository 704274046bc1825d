"""The wait before each retry: exponential growth, capped, with full or decorrelated jitter.

Pure functions of the config, the retry number and a random source, so tests seed the
random source and check exact values and bounds without sleeping.
"""

from __future__ import annotations

import math
import random

from ._config import RetryConfig


def ceiling(config: RetryConfig, retry: int) -> float:
    """``min(max_delay, base_delay × multiplier^(retry-1))`` for retry number *retry* >= 1."""
    base = config.base_delay
    if config.multiplier == 1 or retry <= 1:
        return min(config.max_delay, base)
    # Past the cap more growth changes nothing; stopping there avoids float overflow.
    steps = math.ceil(math.log(config.max_delay / base, config.multiplier))
    return min(config.max_delay, base * config.multiplier ** min(retry - 1, max(0, steps)))


def next_delay(config: RetryConfig, retry: int, previous: float, rng: random.Random) -> float:
    """The wait before retry number *retry*; *previous* is the wait before the one before
    (``base_delay`` for the first retry)."""
    if config.backoff == "full_jitter":
        return rng.uniform(0.0, ceiling(config, retry))
    if config.backoff == "decorrelated_jitter":
        high = max(config.base_delay, previous * 3)
        return min(config.max_delay, rng.uniform(config.base_delay, high))
    return ceiling(config, retry)
