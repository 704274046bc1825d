"""`__all__` is the public API: complete, documented, and free of the stream core."""

from __future__ import annotations

import ast
import pathlib

import streamguard.breaker as breaker


def test_all_lists_every_public_name() -> None:
    public = {n for n in vars(breaker) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(breaker, n)).__name__ == "module"}
    assert sorted(breaker.__all__) == sorted(public - modules)


def test_every_public_name_is_documented() -> None:
    for name in breaker.__all__:
        obj = getattr(breaker, name)
        if isinstance(obj, type) and obj.__module__ == breaker.__name__:
            assert obj.__doc__, name


# core._redis is the one Redis connection the limiter's storage and the shared breaker state use.
ALLOWED_CORE = {"core._errors", "core._clock", "core._events", "core._signals", "core._checks",
                "core._public", "core._redis"}


def streamguard_imports(package: pathlib.Path) -> set[str]:
    """Every streamguard module the package's own files import (relative or absolute)."""
    found: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                if node.level >= 2:
                    found.add(node.module)
                elif node.module.startswith("streamguard."):
                    found.add(node.module.removeprefix("streamguard."))
    return found


def test_the_breaker_imports_nothing_of_the_stream_core() -> None:
    imports = streamguard_imports(pathlib.Path(breaker.__file__).parent)
    assert imports <= ALLOWED_CORE, imports - ALLOWED_CORE
