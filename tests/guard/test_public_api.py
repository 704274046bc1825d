"""`__all__` is the public API of the guard package, and every name is documented."""

from __future__ import annotations

import streamguard.guard as guard


def test_all_lists_every_public_name() -> None:
    public = {n for n in vars(guard) if not n.startswith("_")} - {"annotations"}
    modules = {n for n in public if type(getattr(guard, n)).__name__ == "module"}
    assert sorted(guard.__all__) == sorted(public - modules)


def test_every_public_name_is_documented() -> None:
    for name in guard.__all__:
        obj = getattr(guard, name)
        if isinstance(obj, type) or name == "guarded_sink":
            assert obj.__doc__, name
