"""Give every export the path users import it from.

A traceback should say ``streamguard.breaker.CircuitOpenError``, not
``streamguard.breaker._state.CircuitOpenError`` (httpx does the same). Each package's
``__init__`` ends with ``publish(__name__, globals(), __all__)``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from typing import Any


def publish(package: str, namespace: Mapping[str, Any], names: Iterable[str]) -> None:
    """Set ``__module__`` to *package* on every class and function in *names* that was defined
    in one of the package's private modules (aliases such as ``Permit = int`` are left alone)."""
    for name in names:
        obj = namespace[name]
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and module.startswith(package + "."):
            # An object that cannot take it keeps its own.
            with contextlib.suppress(AttributeError, TypeError):
                obj.__module__ = package
