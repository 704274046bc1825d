"""`guarded_sink`: the operator that ends a pipeline with a guarded call."""

from __future__ import annotations

import inspect
import math
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Never, TypeVar

from ..breaker._breaker import CircuitBreaker
from ..core._checks import is_async_callable, is_int, is_number
from ..core._clock import SYSTEM_CLOCK, Clock
from ..core._concurrent import ConcurrencyLimit
from ..core._errors import require
from ..core._stream import Operator, lift
from ..retry._budget import RetryBudget
from ..retry._config import RetryConfig
from ..retry._retry import Retry
from ._stage import GuardedSinkStage, ItemCallback, OnOpen

T = TypeVar("T")

_ON_OPEN = ("backpressure", "fail", "dead_letter", "fallback")


def guarded_sink(
    call: Callable[[T], Awaitable[Any]], *, breaker: CircuitBreaker | None = None,
    retry: Retry | RetryConfig | None = None, timeout: float | None = None,
    concurrency: int | ConcurrencyLimit = 1, on_open: OnOpen = "backpressure",
    dead_letter: ItemCallback | None = None, fallback: ItemCallback | None = None,
    clock: Clock | None = None, name: str | None = None,
    key: Callable[[T], Hashable] | None = None, max_per_key: int | None = None,
) -> Operator[T, Never]:
    """End the pipeline by awaiting ``call(item)`` for every item, guarded.

    Args:
        call: the ``async def`` function that delivers one item downstream. A plain function
            is refused here with a ``TypeError`` (it would run, then fail on ``await``).
        breaker: the circuit breaker every try goes through (none: no breaker).
        retry: a :class:`~streamguard.retry.Retry` (its config, budget and random source are
            used; its own ``breaker`` is not), or a :class:`~streamguard.retry.RetryConfig`,
            which gets a :class:`~streamguard.retry.RetryBudget` shared by the stage. None:
            one try per item. Programming errors (``TypeError``, ``AttributeError`` …) are
            never retried by default (``RetryConfig.never_retry_on``).
        timeout: seconds per try; a try that takes longer is cancelled and counts as a
            failure for the breaker (and is retried like any ``TimeoutError``).
        concurrency: items in delivery at once: an int >= 1, or a
            :class:`~streamguard.adaptive.AdaptiveLimit` (any
            :class:`~streamguard.core.ConcurrencyLimit`) that learns from every try of
            *call* — its duration, and a failure or timeout as a drop; breaker waits and
            retry backoffs are not counted — and that the workers and the demand upstream
            follow.
        on_open: what an item does when the breaker refuses it:

            * ``"backpressure"`` (default): it waits; the first waiting item becomes the
              half-open probe. Nothing is dropped.
            * ``"fail"``: the stream fails with an error naming the item and the breaker.
            * ``"dead_letter"``: it goes to *dead_letter* with the breaker's error.
            * ``"fallback"``: *fallback(item, error)* handles it.
        dead_letter: ``(item, error)``, sync or async (an async one is awaited;
            ``KafkaSource.dead_letter`` is sync), taking items that could not be delivered:
            refused (``on_open="dead_letter"``), retries exhausted, not retryable. Without it
            such an item fails the stream with a :class:`DeliveryError` naming the breaker,
            wrapped in an ``ItemFailedError`` naming the stage and the item.
        fallback: ``(item, error)``, sync or async, for ``on_open="fallback"``.
        clock: times tries, timeouts and retry waits (default: the event loop's clock).
        name: the stage's name in statistics, events and metrics.
        key: key ordering (``op.sink``'s ``key=``): items of one key are delivered one at
            a time in arrival order, items of different keys concurrently.
        max_per_key: with *key*, the most items of one key held (default: a quarter of
            the ``2 × concurrency`` the stage holds, at least 2).

    An item completes at its source once delivered, handled by the fallback, or
    dead-lettered; never when it is merely given up. In ``backpressure`` mode an item whose
    tries ran out gives up only if the breaker still lets calls through one backoff
    (``max_delay``-capped) later: during an outage items wait, only a poison item is given up.

    *call*'s result, and what *dead_letter* and *fallback* return, are awaited once and
    thrown away, so an awaitable coming out of that await is work that never ran (``async def
    call(x): return post(x)``, with no ``await``): the item's ack fails and the stream fails
    with a ``TypeError`` naming the callable and the fix, whatever the breaker, retry or
    dead-letter sink (a programming error, not a failed delivery).

    Raises:
        TypeError: *call* is not an ``async def`` function, or a callback cannot take
            ``(item, error)``.
        ConfigError: a value breaks a rule (the message names the field and the value).
    """
    _check_call(call)
    require(breaker is None or isinstance(breaker, CircuitBreaker),
            "guarded_sink: breaker must be a CircuitBreaker or None", breaker)
    require(retry is None or isinstance(retry, Retry | RetryConfig),
            "guarded_sink: retry must be a Retry, a RetryConfig or None", retry)
    require((isinstance(concurrency, ConcurrencyLimit) and not isinstance(concurrency, int))
            or (is_int(concurrency) and concurrency >= 1),
            "guarded_sink: concurrency must be an int >= 1 or an AdaptiveLimit "
            "(a ConcurrencyLimit)", concurrency)
    require(timeout is None or (is_number(timeout) and math.isfinite(timeout) and timeout > 0),
            "guarded_sink: timeout must be a number > 0 (seconds) or None", timeout)
    require(on_open in _ON_OPEN,
            "guarded_sink: on_open must be 'backpressure', 'fail', 'dead_letter' or "
            "'fallback'", on_open)
    require(on_open != "dead_letter" or dead_letter is not None,
            "guarded_sink: on_open='dead_letter' needs a dead_letter sink", dead_letter)
    require(on_open != "fallback" or fallback is not None,
            "guarded_sink: on_open='fallback' needs a fallback", fallback)
    _check_callback("dead_letter", dead_letter)
    _check_callback("fallback", fallback)
    require(name is None or (isinstance(name, str) and bool(name)),
            "guarded_sink: name must be a non-empty string or None", name)
    require(key is None or callable(key),
            "guarded_sink: key must be a function item -> hashable key, or None", key)
    require(max_per_key is None or key is not None, "guarded_sink: max_per_key needs key=",
            max_per_key)
    require(max_per_key is None or (is_int(max_per_key) and max_per_key >= 1),
            "guarded_sink: max_per_key must be an int >= 1", max_per_key)
    the_clock = clock if clock is not None else SYSTEM_CLOCK
    stage_name = name or "guarded_sink"
    # One budget per operator: every subscription of it (every run) spends from it.
    budget = RetryBudget(clock=the_clock) if isinstance(retry, RetryConfig) else None
    return lift(lambda down: GuardedSinkStage(
        down, call, breaker=breaker, retry=retry, budget=budget, timeout=timeout,
        concurrency=concurrency,
        on_open=on_open, dead_letter=dead_letter, fallback=fallback, clock=the_clock,
        name=stage_name, key=key, max_per_key=max_per_key), name="guarded_sink", ends=True)


def _check_call(call: object) -> None:
    require(callable(call), "guarded_sink: call must be an async function (item) -> awaitable",
            call)
    if not is_async_callable(call):
        name = getattr(call, "__qualname__", None) or repr(call)
        raise TypeError(
            f"guarded_sink awaits call(item) for every item, but {name} is a plain function "
            f"(calling it would run it, then fail on `await`); define it with `async def "
            f"{getattr(call, '__name__', 'call')}(item)`, and run blocking work inside it "
            "with `await asyncio.to_thread(...)`")


def _check_callback(field: str, fn: object) -> None:
    if fn is None:
        return
    require(callable(fn),
            f"guarded_sink: {field} must be a callable (item, error), sync or async", fn)
    try:
        signature = inspect.signature(fn)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a builtin without a signature: trust it
        return
    try:
        signature.bind(None, None)
    except TypeError:
        raise TypeError(
            f"guarded_sink({field}=...) calls {field}(item, error) with the item first, but "
            f"{fn!r} takes {signature}; give it two parameters (item, error)") from None
