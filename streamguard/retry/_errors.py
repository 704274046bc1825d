"""The one exception of retry: it gave up."""

from __future__ import annotations

from ..core._errors import StreamGuardError


class RetryError(StreamGuardError):
    """A retried call failed for good: attempts used up, retry budget exhausted, or the
    downstream asked for a longer wait than allowed. The last error is ``__cause__``.

    Message: ``Retry 'payments' gave up on send(42) after 3 attempts (attempts exhausted):
    ConnectionError: refused``.

    Attributes:
        retry: the name of the :class:`~streamguard.retry.Retry`.
        call: a short description of the call.
        attempts: tries made.
        reason: why it stopped.
        last_error: the error of the last try.
    """

    retryable = False

    def __init__(self, retry: str, call: str, attempts: int, reason: str,
                 last_error: BaseException) -> None:
        super().__init__(
            f"Retry {retry!r} gave up on {call} after {attempts} attempt"
            f"{'' if attempts == 1 else 's'} ({reason}): "
            f"{type(last_error).__name__}: {last_error}")
        self.retry = retry
        self.call = call
        self.attempts = attempts
        self.reason = reason
        self.last_error = last_error
        self.__cause__ = last_error
