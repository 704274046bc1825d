"""Demand arithmetic shared by every stage (Reactive Streams rules 3.9 and 3.17)."""

from __future__ import annotations

from ._errors import DemandError

UNBOUNDED = 2**63 - 1
"""Demand of ``2**63 - 1`` or more means "send everything" (rule 3.17)."""


def add_demand(current: int, n: int) -> int:
    """Return *current* + *n*, saturating at :data:`UNBOUNDED`."""
    total = current + n
    return UNBOUNDED if total >= UNBOUNDED else total


def demand_error(owner: str, n: object) -> DemandError:
    """Build the error for a non-positive ``request(n)`` (rule 3.9)."""
    return DemandError(
        f"{owner}: request(n) requires n > 0 (Reactive Streams rule 3.9), got {n!r}"
    )
