"""`Decision`: the answer of a limiter to "may this cost pass now?", and
:class:`RateLimitExceeded`, the error that carries a refusal."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from streamguard.core._errors import StreamGuardError

if TYPE_CHECKING:
    from .algorithms._base import Algorithm


# A NamedTuple, not a frozen dataclass: one is built on every decision, and building a tuple
# costs a fifth of a frozen dataclass (0.12 µs against 0.7 µs here), which is the whole budget
# of the limiter's fast path. It is just as immutable.
class Decision(NamedTuple):
    """The outcome of one rate-limit decision (immutable).

    Attributes:
        allowed: the cost was admitted (and consumed).
        limit: the most the limiter can admit at once (burst, bucket capacity, or N per window).
        remaining: what could still be admitted right after this decision.
        retry_after: seconds until the same cost could be admitted (0 when allowed;
            ``inf`` when it never can, because it exceeds ``limit``).
        reset_after: seconds until the limiter is back to its full ``limit``.
        policy: the algorithm (with its parameters) that made the decision.
        limiter: the name of the limiter (``"api"``, or ``"api/user"`` for one tier).
        tiers: for a composite limiter, the decision of every tier; otherwise empty.

    Example::

        decision = limiter.try_acquire()
        if not decision.allowed:
            return Response(status=429, headers=decision.headers())
    """

    allowed: bool
    limit: float
    remaining: float
    retry_after: float
    reset_after: float
    policy: Algorithm
    limiter: str
    tiers: tuple[Decision, ...] = ()

    def headers(self, *, legacy: bool = True, ietf: bool = True) -> dict[str, str]:
        """Render HTTP response headers: ``Retry-After`` (when refused), the common
        ``X-RateLimit-Limit/-Remaining/-Reset`` (*legacy*) and the IETF ``RateLimit`` and
        ``RateLimit-Policy`` fields (*ietf*). All times are delta-seconds, rounded up."""
        from ._headers import render_headers

        return render_headers(self, legacy=legacy, ietf=ietf)


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
