"""Guarding calls with a breaker: ``call``, the decorator and ``async with``.

Each asks for a permit (waiting first for the shared state's answer if it may open the
breaker), makes the call, and reports its outcome with its duration when a slow-call
threshold is set. A refused call raises :class:`CircuitOpenError` without being made.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from ..core._checks import is_async_callable
from ._machine import Permit
from ._permits import Permits
from ._state import CLOSED, CircuitOpenError

P = ParamSpec("P")
R = TypeVar("R")


class CallGuard(Permits):
    """The call-guarding layer of :class:`~streamguard.breaker.CircuitBreaker`: ``call``, the
    decorator and ``async with``, on the permits of :class:`Permits`."""

    __slots__ = ()

    async def call(self, fn: Callable[P, Awaitable[R]], /, *args: P.args,
                   **kwargs: P.kwargs) -> R:
        """Await ``fn(*args, **kwargs)`` under the breaker.

        Raises:
            CircuitOpenError: the breaker refused; *fn* was not called.
            TypeError: *fn* is not an async function (checked before anything is called).
        """
        if not is_async_callable(fn):
            raise self._not_async(fn, "call")
        if self._link is not None:
            await self.wait_shared()
        if self._measure:
            return await self._call_timed(fn(*args, **kwargs))
        permit = self.try_acquire()
        if permit is None:
            raise self.open_error()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            self.on_failure(permit, exc)
            raise
        self.on_success(permit)
        return result

    def _not_async(self, fn: object, verb: str) -> TypeError:
        return TypeError(
            f"CircuitBreaker {self.name!r} can only {verb} an async function, got plain "
            f"callable {fn!r}; define it with `async def` (a blocking call belongs in "
            "`async def f(...): return await asyncio.to_thread(...)`)")

    async def _call_timed(self, awaitable: Awaitable[R]) -> R:
        try:
            permit = self._permit_or_raise()
        except CircuitOpenError:
            if inspect.iscoroutine(awaitable):
                awaitable.close()  # never awaited, on purpose
            raise
        start = self._clock.now()
        try:
            result = await awaitable
        except BaseException as exc:
            self.on_failure(permit, exc, self._clock.now() - start)
            raise
        self.on_success(permit, self._clock.now() - start)
        return result

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
        """Decorate an async function so that every call goes through the breaker."""
        if not is_async_callable(fn):
            raise self._not_async(fn, "decorate")
        # The body of call(), inlined: one coroutine per guarded call instead of two.
        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            if self._link is not None:
                await self.wait_shared()
            if self._measure:
                return await self._call_timed(fn(*args, **kwargs))
            permit = self._gen if self._state is CLOSED else self._acquire_other()
            if permit is None:
                raise self.open_error()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as exc:
                self.on_failure(permit, exc)
                raise
            self.on_success(permit)
            return result

        return guarded

    async def __aenter__(self) -> None:
        # `async with` has nowhere to keep a permit, so in the common case (CLOSED, no calls
        # left over from an earlier generation) calls are only counted: all counted calls
        # belong to the current generation. Otherwise the permit is kept per task.
        if self._link is not None:
            await self.wait_shared()
        if (self._state is CLOSED and not self._anon_stale and not self._held
                and not self._measure):
            self._anon += 1
            return
        permit = self._permit_or_raise()
        start = self._clock.now() if self._measure else 0.0
        self._held.setdefault(asyncio.current_task(), []).append((permit, start))

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        if not self._held and not self._anon_stale:
            self._anon -= 1
            if exc is None and self._quiet and not self._bus.active and not self._observers.active:
                return
            self._finish(self._gen, exc, 0.0)
            return
        if self._held:
            key = asyncio.current_task()
            stack = self._held.get(key)
            if stack:
                permit, start = stack.pop()
                if not stack:
                    del self._held[key]
                duration = self._clock.now() - start if self._measure else 0.0
                self._finish(permit, exc, duration)
                return
        if self._anon_stale:
            self._anon_stale -= 1
            self._finish(self._anon_stale_gen, exc, 0.0)
            return
        self._anon -= 1
        self._finish(self._gen, exc, 0.0)

    def _finish(self, permit: Permit, exc: BaseException | None, duration: float) -> None:
        if exc is None:
            self.on_success(permit, duration)
        else:
            self.on_failure(permit, exc, duration)
