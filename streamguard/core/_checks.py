"""Type checks shared by every config and operator, so a wrong type is refused when the
pipeline is built, with the field and the value named (through ``core._errors.require``).

A ``bool`` is not a number here: ``attempts=True`` is a mistake, not ``attempts=1``.
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any

from ._errors import require

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


_NEVER_AWAITED = "a coroutine would never be awaited here"


def awaitable_result_error(owner: str, field: str, fn: object, result: object, *,
                           awaited: bool = False) -> TypeError:
    """The error for *fn* that returned an awaitable where its result is thrown away (any
    sink's function, a sink's ``on_error``, guarded_sink's ``call``, ``dead_letter`` and
    ``fallback``): the item would be acked done without its work ever running. *awaited*:
    the operator already awaited what *fn* returned, and this came out of it (an ``async
    def`` that returned ``store(x)`` without ``await``); otherwise *fn* is a plain function
    that should have been an ``async def``. Closes a coroutine, so that it is not reported
    as never awaited (an awaitable that is already running, such as a task, runs on)."""
    if inspect.iscoroutine(result):
        what = f"the coroutine {result.__qualname__}()"
        result.close()
    else:
        what = f"the awaitable {result!r}"
    name = getattr(fn, "__qualname__", None) or repr(fn)
    if awaited:
        fix = (f"got {what} when the operator awaited {name}; await it inside {name} "
               f"(`await store(item)`, not `return store(item)`): the operator awaits the "
               f"call once and throws its result away")
    else:
        fix = (f"got {what} from the plain function {name}; pass an async def instead (the "
               f"coroutine function itself, or `async def f(item): await ...`), which the "
               f"operator awaits")
    return TypeError(
        f"{owner}: {field} must not return an awaitable ({_NEVER_AWAITED}, and the item "
        f"would complete without it), {fix}")


def check_int(owner: str, field: str, value: object, minimum: int) -> None:
    """Refuse anything but an ``int`` (not a ``bool``) >= *minimum*, naming the field."""
    require(is_int(value) and value >= minimum,  # type: ignore[operator]
            f"{owner}: {field} must be an int >= {minimum}", value)


def check_seconds(owner: str, field: str, value: object, *, optional: bool = False) -> None:
    """Refuse anything but a finite number of seconds > 0 (``None`` too if *optional*)."""
    if optional and value is None:
        return
    require(is_number(value) and 0 < value < math.inf,  # type: ignore[operator]
            f"{owner}: {field} must be a number of seconds > 0{' or None' if optional else ''}",
            value)


def check_function(owner: str, field: str, fn: object, kind: str) -> None:
    """Refuse what is not callable (``ConfigError``) and a callable of the wrong kind
    (``TypeError`` naming the operator and the fix). *kind*: ``"sync"``, ``"async"`` or
    ``"any"``.

    What a callable is, is read from its definition (:func:`is_async_callable`): a plain
    function that returns a coroutine (``lambda x: store(x)``) is a plain function. Where its
    result would be thrown away, :func:`awaitable_result_error` refuses it when it is called.
    """
    require(callable(fn), f"{owner}: {field} must be callable", fn)
    if kind == "sync" and is_async_callable(fn):
        raise TypeError(
            f"{owner}: {field} must be a plain function, got the async function {fn!r}; "
            f"{_NEVER_AWAITED} — use the async operator (map_async, an async sink) or make "
            f"it a plain def")
    if kind == "async" and not is_async_callable(fn):
        raise TypeError(
            f"{owner}: {field} must be an async function (async def), got {fn!r}; use the "
            f"plain operator (map, a plain sink) for a plain function, or define it with "
            f"async def")
