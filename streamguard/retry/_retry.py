"""`Retry`: try a call again after a failure, with backoff, within a shared budget.

Three rules hold whatever the config says: cancellation is never retried nor swallowed; a
call the circuit breaker refused is not retried (the breaker knows the downstream is down;
retrying would bypass it); and retries never exceed the shared :class:`RetryBudget`.
"""

from __future__ import annotations

import functools
import inspect
import random
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, ParamSpec, TypeVar

from ..breaker._breaker import CircuitBreaker
from ..breaker._errors import CircuitOpenError
from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._errors import require
from ..core._events import EventBus, default_bus
from ..core._signals import retry_after_of, retryable_of
from ._backoff import next_delay
from ._budget import RetryBudget
from ._config import RetryConfig
from ._errors import RetryError
from ._events import RetryAttempted, RetryBudgetExhausted, RetryGaveUp

P = ParamSpec("P")
R = TypeVar("R")


def is_retryable(config: RetryConfig, error: BaseException) -> bool:
    """Whether *error* is worth another try under *config* (see :class:`RetryConfig`)."""
    if not isinstance(error, Exception) or isinstance(error, CircuitOpenError):
        return False
    declared = retryable_of(error)
    if declared is not None:
        return declared
    if config.retry_if is not None:
        return config.retry_if(error)
    return isinstance(error, config.retry_on)


def describe_call(fn: object, args: tuple[Any, ...]) -> str:
    """A short name of a call for messages: ``send(42)``."""
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    shown = ", ".join(repr(a) for a in args)
    if len(shown) > 80:
        shown = shown[:80] + "…"
    return f"{name}({shown})"


class Retry:
    """Retries failed async calls.

    Example::

        retry = Retry("payments", RetryConfig(attempts=4), budget=RetryBudget(),
                      breaker=CircuitBreaker("payments"))

        @retry
        async def pay(order_id: str) -> None: ...

        await retry.call(client.post, "/pay", json=body)

    Args:
        name: names the retry in errors and events (usually the stage's name).
        config: its rules (default :class:`RetryConfig`).
        budget: the shared budget retries are spent from (none: only ``attempts`` limits).
        breaker: if given, every try goes through it; a refused try ends the call with
            :class:`~streamguard.breaker.CircuitOpenError`.
        clock: waits between tries are ``clock.sleep``.
        rng: the random source of the jitter (seed it in tests).
        bus: where events go (default: the process-wide bus).
    """

    __slots__ = ("_bus", "_clock", "_rng", "breaker", "budget", "config", "name")

    def __init__(
        self, name: str, config: RetryConfig | None = None, *, budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None, clock: Clock | None = None,
        rng: random.Random | None = None, bus: EventBus | None = None,
    ) -> None:
        require(isinstance(name, str) and bool(name), "name must be a non-empty string", name)
        self.name = name
        self.config = config if config is not None else RetryConfig()
        self.budget = budget
        self.breaker = breaker
        self._clock: Clock = clock if clock is not None else SYSTEM_CLOCK
        self._rng = rng if rng is not None else random.Random()
        self._bus = bus if bus is not None else default_bus()

    def __repr__(self) -> str:
        return f"<Retry {self.name!r} attempts={self.config.attempts}>"

    async def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args,
                   **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)``, trying again as the rules allow."""
        breaker = self.breaker
        if breaker is None:
            attempt: Callable[[], Awaitable[R]] = lambda: fn(*args, **kwargs)  # noqa: E731
        else:
            attempt = lambda: breaker.call(fn, *args, **kwargs)  # noqa: E731
        return await self.run(attempt, describe_call(fn, args))

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """Decorate an async function so that every call is retried by these rules."""
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"Retry {self.name!r} decorates async functions, got {fn!r}; "
                            "wrap a plain function in an async def first")

        @functools.wraps(fn)
        async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self.call(fn, *args, **kwargs)

        return retried

    async def run(self, attempt: Callable[[], Awaitable[R]], call: str) -> R:
        """Await ``attempt()`` until it succeeds or the rules say stop; *call* names it in
        errors."""
        if self.budget is not None:
            self.budget.record_call()
        tries = 0
        delay = self.config.base_delay
        last: Exception | None = None
        while True:
            tries += 1
            try:
                return await attempt()
            except Exception as exc:
                if not is_retryable(self.config, exc):
                    if isinstance(exc, CircuitOpenError) and exc.__cause__ is None:
                        exc.__cause__ = last  # a refused retry: say what it was retrying
                    raise
                delay, wait = self._plan(tries, delay, exc, call)
                last = exc
            await self._clock.sleep(wait)

    def _plan(self, tries: int, previous: float, error: Exception,
              call: str) -> tuple[float, float]:
        """Decide on a retry after try *tries* failed: its backoff delay and the wait before
        it (at least the error's ``retry_after`` when honoured), or raise."""
        cfg = self.config
        if tries >= cfg.attempts:
            self._give_up(tries, "attempts exhausted", error, call)
        after = retry_after_of(error) if cfg.honour_retry_after else None
        if after is not None and after > cfg.max_retry_after:
            self._give_up(tries, f"Retry-After of {after:g} s exceeds max_retry_after="
                                 f"{cfg.max_retry_after:g} s", error, call)
        if self.budget is not None and not self.budget.try_spend():
            if self._bus.active:
                self._bus.publish(RetryBudgetExhausted(self.name, tries + 1, error))
            budget = self.budget.config
            self._give_up(tries, f"retry budget exhausted: retries may not exceed "
                                 f"{budget.ratio:.0%} of calls + {budget.min_per_second:g}/s "
                                 f"over {budget.window} s", error, call)
        delay = next_delay(cfg, tries, previous, self._rng)
        wait = delay if after is None else max(delay, after)
        if self._bus.active:
            self._bus.publish(RetryAttempted(self.name, tries + 1, wait, error))
        return delay, wait

    def _give_up(self, tries: int, reason: str, error: Exception, call: str) -> NoReturn:
        if self._bus.active:
            self._bus.publish(RetryGaveUp(self.name, tries, reason, error))
        raise RetryError(self.name, call, tries, reason, error) from error
