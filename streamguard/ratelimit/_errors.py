"""The one exception of rate limiting (see :mod:`streamguard.core._errors` for the tree)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streamguard.core._errors import StreamGuardError

if TYPE_CHECKING:
    from ._decision import Decision


class RateLimitExceeded(StreamGuardError):
    """A limiter refused a cost: in ``"error"`` mode, past a wait's timeout, or a cost that
    can never be admitted (larger than the limiter's burst).

    ``decision`` is the refusal, with ``retry_after`` saying when to try again.
    """

    def __init__(self, message: str, *, decision: Decision) -> None:
        super().__init__(message)
        self.decision = decision
