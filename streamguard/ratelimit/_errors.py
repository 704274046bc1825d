"""The one exception of rate limiting (see :mod:`streamguard.core._errors` for the tree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamguard.core._errors import StreamGuardError

if TYPE_CHECKING:
    from ._decision import Decision


class RateLimitExceeded(StreamGuardError):
    """A limiter refused a cost: in ``"error"`` mode, past a wait's timeout, or a cost that
    can never be admitted (larger than the limiter's burst).

    ``decision`` is the refusal, with ``retry_after`` saying when to try again. It is a
    "slow down" signal (``throttled``), so a circuit breaker around the call does not count it
    as a failure and a retry waits ``retry_after`` first.
    """

    throttled = True

    def __init__(self, message: str, *, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision

    @property
    def retry_after(self) -> float:
        """Seconds until the refused cost could be admitted (from the decision)."""
        return self.decision.retry_after
