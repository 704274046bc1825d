"""HTTP rate-limit headers, both directions.

Out: a :class:`~streamguard.ratelimit.Decision` renders ``Retry-After`` (RFC 9110), the common
``X-RateLimit-Limit`` / ``-Remaining`` / ``-Reset`` trio, and the IETF ``RateLimit-Policy`` and
``RateLimit`` fields (draft-ietf-httpapi-ratelimit-headers). All times are delta-seconds rounded
up, so a client that waits as told is never early.

In: :func:`parse_retry_after` reads a downstream's ``Retry-After`` (delta-seconds or HTTP-date),
for :meth:`RateLimiter.penalize <streamguard.ratelimit.RateLimiter.penalize>`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from email.utils import parsedate_to_datetime
from typing import Protocol

from streamguard.core._errors import require


class _Policy(Protocol):
    @property
    def quota(self) -> float: ...

    @property
    def window(self) -> float: ...


class Limited(Protocol):
    """What the headers are rendered from: every :class:`~streamguard.ratelimit.Decision`
    (the fields of its that they read)."""

    @property
    def allowed(self) -> bool: ...

    @property
    def limit(self) -> float: ...

    @property
    def remaining(self) -> float: ...

    @property
    def retry_after(self) -> float: ...

    @property
    def reset_after(self) -> float: ...

    @property
    def policy(self) -> _Policy: ...

    @property
    def limiter(self) -> str: ...

    @property
    def tiers(self) -> Sequence[Limited]: ...


def render_headers(decision: Limited, *, legacy: bool = True,
                   ietf: bool = True) -> dict[str, str]:
    """The response headers for *decision* (see :meth:`Decision.headers`)."""
    headers: dict[str, str] = {}
    if not decision.allowed and math.isfinite(decision.retry_after):
        headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
    if legacy:
        headers["X-RateLimit-Limit"] = str(_floor(decision.limit))
        headers["X-RateLimit-Remaining"] = str(_floor(decision.remaining))
        headers["X-RateLimit-Reset"] = str(_ceil(decision.reset_after))
    if ietf:
        tiers = decision.tiers or (decision,)
        headers["RateLimit-Policy"] = ", ".join(_policy_item(t) for t in tiers)
        headers["RateLimit"] = ", ".join(_limit_item(t) for t in tiers)
    return headers


def _policy_item(decision: Limited) -> str:
    # The field wants integers: express the quota over a whole number of seconds, at least 1.
    policy = decision.policy
    window = max(1, round(policy.window))
    quota = max(1, math.floor(policy.quota * window / policy.window + 1e-9))
    return f"{_sf_string(decision.limiter)};q={quota};w={window}"


def _limit_item(decision: Limited) -> str:
    return (f"{_sf_string(decision.limiter)};r={_floor(decision.remaining)};"
            f"t={_ceil(decision.reset_after)}")


def _sf_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _floor(value: float) -> int:
    return max(0, math.floor(value + 1e-9)) if math.isfinite(value) else 0


def _ceil(value: float) -> int:
    return max(0, math.ceil(value - 1e-9)) if math.isfinite(value) else 0


def parse_retry_after(value: str | float, *, now: float | None = None) -> float:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds (``"120"``, ``1.5``) or an
    HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``, measured against *now*, by default the
    wall clock). A date in the past means 0. Anything else is a :class:`ConfigError`.

    Example::

        parse_retry_after(response.headers["Retry-After"])
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        require(math.isfinite(value) and value >= 0,
                "Retry-After must be delta-seconds >= 0 or an HTTP-date", value)
        return float(value)
    text = str(value).strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        when = None
    require(when is not None and when.tzinfo is not None,
            "Retry-After must be delta-seconds >= 0 or an HTTP-date", value)
    assert when is not None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)
