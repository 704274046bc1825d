"""The storage interface: where the per-key state of a limiter's tiers lives.

A limiter *binds* its tiers (a namespace and an algorithm each) to a storage once; the binding
then decides for a tuple of keys, one per tier, checking every tier first and committing only
if all of them allow (so a refusal by one tier consumes nothing from the others). Local storage
answers synchronously; remote storage (Redis) answers in one round trip and raises
:class:`StorageUnavailable` when it cannot, which the limiter turns into its failure mode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence

from streamguard.core._errors import StreamGuardError

from ..algorithms._base import Algorithm, Decision

TierSpec = tuple[str, Algorithm]
"""A tier as storage sees it: its namespace (``"api"``, ``"api/user"``) and its algorithm."""


def uncommitted(decisions: list[Decision], cost: float) -> list[Decision]:
    """After a refusal by some tier, the tiers that would have allowed report what they still
    have: their decision was computed as if the cost had been taken, and it was not."""
    return [d._replace(remaining=min(d.limit, d.remaining + cost)) if d.allowed else d
            for d in decisions]


class StorageUnavailable(StreamGuardError):
    """Remote storage could not be reached or did not answer in time (internal: the limiter
    turns it into its configured failure mode and never lets it reach a pipeline)."""


class Binding(ABC):
    """One limiter's tiers in one storage."""

    local: bool = False
    """True when :meth:`decide_nowait` works (state in this process)."""

    def decide_nowait(self, keys: Sequence[Hashable], cost: float, now: float) -> list[Decision]:
        """Decide synchronously (local storage only): one decision per tier."""
        raise NotImplementedError(f"{type(self).__name__} cannot decide without waiting")

    @abstractmethod
    async def decide(self, keys: Sequence[Hashable], cost: float, now: float) -> list[Decision]:
        """Decide atomically for one key per tier: all allowed and committed, or nothing."""

    @abstractmethod
    async def penalize(self, keys: Sequence[Hashable], seconds: float, now: float) -> None:
        """Refuse everything for these keys during the next *seconds*."""

    @abstractmethod
    async def reset(self, keys: Sequence[Hashable]) -> None:
        """Forget the state of these keys (back to full)."""


class Storage(ABC):
    """A place for limiter state, chosen by URI (see :func:`storage_from_uri`)."""

    uri: str
    """The URI this storage was made from (without a password)."""

    @abstractmethod
    def bind(self, tiers: Sequence[TierSpec]) -> Binding:
        """Prepare decisions for *tiers*; two bindings with the same namespace share state."""

    async def aclose(self) -> None:  # noqa: B027 - local storage has nothing to release
        """Release connections (nothing to do for local storage)."""
