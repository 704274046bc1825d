"""`Retry`: try a call again after a failure, with backoff, within a shared budget; its one
exception (:class:`RetryError`) and its typed events.

Three rules hold whatever the config says: cancellation is never retried nor swallowed; an
exception that declares ``retryable = False`` (a call the circuit breaker refused) is not
retried; and retries never exceed the shared :class:`~streamguard.retry.RetryBudget`.

The first try costs one ``await`` and, with a budget, one count: the loop, the backoff state
and the description of the call for messages are only built once a try failed.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, NoReturn, ParamSpec, Protocol, TypeAlias, TypeVar, get_args

from ..core._checks import is_async_callable
from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._errors import StreamGuardError, require
from ..core._events import Event, EventBus, default_bus
from ..core._signals import retry_after_of, retryable_of
from ._budget import RetryBudget
from ._config import RetryConfig, next_delay

P = ParamSpec("P")
R = TypeVar("R")

GiveUpReason: TypeAlias = Literal["attempts_exhausted", "retry_after_too_long", "budget_exhausted"]
"""Why a :class:`Retry` gave up: every try was used (``attempts_exhausted``), the downstream
asked for a longer wait than ``max_retry_after`` (``retry_after_too_long``), or the shared
:class:`~streamguard.retry.RetryBudget` had no retry left (``budget_exhausted``). A small
fixed set, so that it can label a metric; the measured values are in the message."""

GIVE_UP_REASONS: tuple[GiveUpReason, ...] = get_args(GiveUpReason)
"""Every :data:`GiveUpReason`, in the order the rules are checked."""


class RetryError(StreamGuardError):
    """A retried call failed for good: attempts used up, retry budget exhausted, or the
    downstream asked for a longer wait than allowed. The last error is ``__cause__``.

    Message: ``Retry 'payments' gave up on send(42) after 3 attempts (attempts exhausted):
    ConnectionError: refused``; the part in brackets is *detail*.

    Attributes:
        retry: the name of the :class:`~streamguard.retry.Retry`.
        call: a short description of the call.
        attempts: tries made.
        reason: why it stopped, as a :data:`GiveUpReason` code (``"attempts_exhausted"`` …).
        detail: the same in words, with the values that decided it (``"Retry-After of 60 s
            exceeds max_retry_after=5 s"``).
        last_error: the error of the last try.
    """

    retryable = False

    def __init__(self, retry: str, call: str, attempts: int, reason: GiveUpReason,
                 last_error: BaseException, *, detail: str | None = None) -> None:
        detail = detail if detail is not None else reason.replace("_", " ")
        super().__init__(
            f"Retry {retry!r} gave up on {call} after {attempts} attempt"
            f"{'' if attempts == 1 else 's'} ({detail}): "
            f"{type(last_error).__name__}: {last_error}")
        self.retry = retry
        self.call = call
        self.attempts = attempts
        self.reason: GiveUpReason = reason
        self.detail = detail
        self.last_error = last_error
        self.__cause__ = last_error


# ---------------------------------------------------------------------- events
# `source` names the retry (usually the stage it serves). Metrics count RetryAttempted as
# streamguard_retry_attempts_total{stage}, RetryBudgetExhausted as
# streamguard_retry_budget_exhausted_total{stage}, RetryGaveUp as
# streamguard_retry_gave_up_total{stage, reason} (the code, never the detail).


@dataclass(frozen=True, slots=True)
class RetryEvent(Event):
    """Base of every retry event; ``source`` names the retry."""


@dataclass(frozen=True, slots=True)
class RetryAttempted(RetryEvent):
    """Try number *attempt* (2 or more) will start after *delay* seconds, because the try
    before failed with *error*."""

    attempt: int
    delay: float
    error: BaseException


@dataclass(frozen=True, slots=True)
class RetryBudgetExhausted(RetryEvent):
    """A retry was wanted after *error* but the shared budget had none left."""

    attempt: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class RetryGaveUp(RetryEvent):
    """The call failed for good after *attempts* tries; *reason* says why, as a
    :data:`GiveUpReason` code, and *detail* says it in words, with the values that decided it
    (for logs: it varies with them, so it never labels a metric)."""

    attempts: int
    reason: GiveUpReason
    error: BaseException
    detail: str


# ---------------------------------------------------------------------- rules
def is_retryable(config: RetryConfig, error: BaseException) -> bool:
    """Whether *error* is worth another try under *config* (see :class:`RetryConfig`)."""
    if not isinstance(error, Exception):
        return False
    declared = retryable_of(error)
    if declared is not None:
        return declared
    if isinstance(error, config.never_retry_on):
        return False
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


class CallGuard(Protocol):
    """What :class:`Retry` needs of a breaker: an async ``call(fn, *args, **kwargs)`` that
    raises an error with ``retryable = False`` when it refuses. A
    :class:`~streamguard.breaker.CircuitBreaker` is one (retry does not import it)."""

    def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args,
             **kwargs: P.kwargs) -> Awaitable[R]:
        """Await ``fn(*args, **kwargs)`` under the guard."""
        ...


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
        breaker: if given, every try goes through it (a
            :class:`~streamguard.breaker.CircuitBreaker`); a refused try ends the call with
            :class:`~streamguard.breaker.CircuitOpenError`, not retried.
        clock: waits between tries are ``clock.sleep``.
        rng: the random source of the jitter (seed it in tests).
        bus: where events go (default: the process-wide bus).
    """

    __slots__ = ("_bus", "_clock", "_rng", "breaker", "budget", "config", "name")

    def __init__(
        self, name: str, config: RetryConfig | None = None, *, budget: RetryBudget | None = None,
        breaker: CallGuard | None = None, clock: Clock | None = None,
        rng: random.Random | None = None, bus: EventBus | None = None,
    ) -> None:
        require(isinstance(name, str) and bool(name), "name must be a non-empty string", name)
        require(config is None or isinstance(config, RetryConfig),
                "config must be a RetryConfig or None", config)
        require(budget is None or isinstance(budget, RetryBudget),
                "budget must be a RetryBudget or None", budget)
        require(breaker is None or callable(getattr(breaker, "call", None)),
                "breaker must be a CircuitBreaker or None", breaker)
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
        """Await ``fn(*args, **kwargs)``, trying again as the rules allow.

        Raises:
            RetryError: the rules said stop; the last error is its cause.
            TypeError: *fn* is not an async function (checked before it is called).
        """
        if not is_async_callable(fn):
            raise self._not_async(fn, "call")
        breaker = self.breaker
        if breaker is None:
            attempt: Callable[[], Awaitable[R]] = functools.partial(fn, *args, **kwargs)
        else:
            attempt = functools.partial(breaker.call, fn, *args, **kwargs)
        return await self.run(attempt, lambda: describe_call(fn, args))

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """Decorate an async function so that every call is retried by these rules."""
        if not is_async_callable(fn):
            raise self._not_async(fn, "decorate")

        @functools.wraps(fn)
        async def retried(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self.call(fn, *args, **kwargs)

        return retried

    def _not_async(self, fn: object, verb: str) -> TypeError:
        return TypeError(
            f"Retry {self.name!r} can only {verb} an async function, got plain callable "
            f"{fn!r}; define it with `async def` (a blocking call belongs in "
            "`async def f(...): return await asyncio.to_thread(...)`)")

    async def run(self, attempt: Callable[[], Awaitable[R]],
                  describe: Callable[[], str] | str = "call") -> R:
        """Await ``attempt()`` until it succeeds or the rules say stop; *describe* names the
        call in errors (a string, or a function asked only when a message needs it)."""
        if self.budget is not None:
            self.budget.record_call()
        try:
            return await attempt()
        except Exception as exc:
            if not is_retryable(self.config, exc):
                raise
            first = exc
        return await self.resume(attempt, first, describe)

    def retryable(self, error: BaseException) -> bool:
        """Whether *error* is worth another try under this retry's rules."""
        return is_retryable(self.config, error)

    async def resume(self, attempt: Callable[[], Awaitable[R]], error: Exception,
                     describe: Callable[[], str] | str = "call") -> R:
        """Go on after a first try that the caller made itself and that failed with the
        retryable *error* (the caller counted it with ``budget.record_call()``): wait, try
        ``attempt()`` again, as :meth:`run` would have. A stage uses it to keep the first
        try, the only one of a healthy call, free of the retry loop."""
        tries = 1
        delay = self.config.base_delay
        while True:
            delay, wait = self._plan(tries, delay, error, describe)
            await self._clock.sleep(wait)
            tries += 1
            try:
                return await attempt()
            except Exception as exc:
                if not is_retryable(self.config, exc):
                    if retryable_of(exc) is False and exc.__cause__ is None:
                        exc.__cause__ = error  # a refused retry: say what it was retrying
                    raise
                error = exc

    def _plan(self, tries: int, previous: float, error: Exception,
              describe: Callable[[], str] | str) -> tuple[float, float]:
        """Decide on a retry after try *tries* failed: its backoff delay and the wait before
        it (at least the error's ``retry_after`` when honoured), or raise."""
        cfg = self.config
        if tries >= cfg.attempts:
            self._give_up(tries, "attempts_exhausted", "attempts exhausted", error, describe)
        after = retry_after_of(error) if cfg.honour_retry_after else None
        if after is not None and after > cfg.max_retry_after:
            self._give_up(tries, "retry_after_too_long",
                          f"Retry-After of {after:g} s exceeds max_retry_after="
                          f"{cfg.max_retry_after:g} s", error, describe)
        if self.budget is not None and not self.budget.try_acquire():
            if self._bus.active:
                self._bus.publish(RetryBudgetExhausted(self.name, tries + 1, error))
            budget = self.budget.config
            self._give_up(tries, "budget_exhausted",
                          f"retry budget exhausted: retries may not exceed "
                          f"{budget.ratio:.0%} of calls + {budget.min_per_second:g}/s "
                          f"over {budget.window} s", error, describe)
        delay = next_delay(cfg, tries, previous, self._rng)
        wait = delay if after is None else max(delay, after)
        if self._bus.active:
            self._bus.publish(RetryAttempted(self.name, tries + 1, wait, error))
        return delay, wait

    def _give_up(self, tries: int, reason: GiveUpReason, detail: str, error: Exception,
                 describe: Callable[[], str] | str) -> NoReturn:
        if self._bus.active:
            self._bus.publish(RetryGaveUp(self.name, tries, reason, error, detail))
        call = describe if isinstance(describe, str) else describe()
        raise RetryError(self.name, call, tries, reason, error, detail=detail) from error
