"""Type checks shared by every config and operator, so a wrong type is refused when the
pipeline is built, with the field and the value named (through ``core._errors.require``).

A ``bool`` is not a number here: ``attempts=True`` is a mistake, not ``attempts=1``.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

_CO_COROUTINE = inspect.CO_COROUTINE


def is_number(value: object) -> bool:
    """True for an ``int`` or ``float`` that is not a ``bool``."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_int(value: object) -> bool:
    """True for an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def exception_types(value: object) -> bool:
    """True for a tuple of exception classes."""
    return isinstance(value, tuple) and all(
        isinstance(t, type) and issubclass(t, BaseException) for t in value)


def is_async_callable(fn: Any) -> bool:
    """True if calling *fn* returns a coroutine by its definition: an ``async def``
    function or method, a ``functools.partial`` of one, or an object whose ``__call__`` is
    one. A plain function that happens to return an awaitable (a lambda) is not."""
    code = getattr(fn, "__code__", None)  # functions and bound methods: the cheap answer
    if code is not None:
        return bool(code.co_flags & _CO_COROUTINE)
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - the class's, not the instance's
    return call is not None and inspect.iscoroutinefunction(call)
