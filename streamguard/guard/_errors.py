"""The error of a guarded sink: an item could not be delivered."""

from __future__ import annotations

from ..core._errors import StreamGuardError


class DeliveryError(StreamGuardError):
    """An item could not be delivered and there was no dead-letter sink for it.

    The stream fails with an :class:`~streamguard.core.ItemFailedError` naming the stage and
    the item, caused by this error, which names the breaker and its state; its own cause is
    the last error of the call (often a :class:`~streamguard.retry.RetryError`).

    Attributes:
        breaker: the breaker's name (``None`` without a breaker).
        state: the breaker's state when the item was given up, as a string.
    """

    def __init__(self, breaker: str | None, state: str | None, cause: BaseException) -> None:
        where = "without a breaker" if breaker is None else (
            f"through CircuitBreaker {breaker!r} ({state})")
        super().__init__(
            f"not delivered {where}: {type(cause).__name__}: {cause}; pass dead_letter= to "
            "route such items instead of failing the stream")
        self.breaker = breaker
        self.state = state
        self.__cause__ = cause
