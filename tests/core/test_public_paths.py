"""Every class and function exported by the core's packages carries its public path as
``__module__`` (``streamguard.core.Stream``, not ``streamguard.core._stream.Stream``)."""

from __future__ import annotations

import importlib
import inspect

import pytest

PACKAGES = ["streamguard", "streamguard.core", "streamguard.operators", "streamguard.sources",
            "streamguard.interop", "streamguard.testing"]


@pytest.mark.parametrize("package", PACKAGES)
def test_exports_carry_their_public_path(package: str) -> None:
    module = importlib.import_module(package)
    wrong = {}
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        home = obj.__module__
        if any(part.startswith("_") for part in home.split(".")):
            wrong[name] = home
        else:
            assert getattr(importlib.import_module(home), name) is obj
    assert wrong == {}


def test_the_path_shows_in_a_repr() -> None:
    from streamguard.core import ConcurrentStage, Pipeline, Publisher

    assert repr(Pipeline) == "<class 'streamguard.core.Pipeline'>"
    assert ConcurrentStage.__module__ == Publisher.__module__ == "streamguard.core"
