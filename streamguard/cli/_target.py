"""Find what ``streamguard run TARGET`` runs, and run it.

TARGET is ``path/to/file.py[:NAME]`` or ``package.module[:NAME]``; NAME defaults to ``main``
and may be dotted. A file is loaded under its own module name, not ``__main__``, so its
``if __name__ == "__main__":`` block does not start a second event loop.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import re
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from ..core._pipeline import PipelineResult
from ..core._runtime import Runtime, watch_pipelines
from ..core._stream import Stream
from ._drain import Pipelines
from ._errors import CliError, ExitCode

DEFAULT_ATTRIBUTE = "main"


@dataclass(frozen=True, slots=True)
class Target:
    """A loaded target: what the user wrote, a short name, and the object it names."""

    spec: str
    name: str
    obj: object


def load_target(spec: str) -> Target:
    """Import the module or file of *spec* and look up its attribute."""
    location, attribute = _split(spec)
    path = Path(location)
    if location.endswith(".py") or path.exists() or "/" in location:
        module = _load_file(path)
        name = path.stem
    else:
        module = _import_module(location)
        name = location.rsplit(".", 1)[-1]
    if attribute != DEFAULT_ATTRIBUTE:
        name = attribute.rsplit(".", 1)[-1]
    obj: object = module
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise CliError(f"{location} has no attribute {attribute!r}", code=ExitCode.NOT_FOUND,
                           hint=f"name one: {location}:FUNCTION")
        obj = getattr(obj, part)
    return Target(spec, name, obj)


def _split(spec: str) -> tuple[str, str]:
    location, sep, attribute = spec.rpartition(":")
    if not sep or not attribute or "/" in attribute or attribute.endswith(".py"):
        return spec, DEFAULT_ATTRIBUTE
    return location, attribute


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise CliError(f"no such file: {path}", code=ExitCode.NOT_FOUND,
                       hint="give a path to a .py file or a module:function")
    module_name = f"streamguard_target_{path.stem}".replace("-", "_")
    spec = importlib.util.spec_from_file_location(module_name, path.resolve())
    if spec is None or spec.loader is None:
        raise CliError(f"cannot load {path} as Python", code=ExitCode.USAGE,
                       hint="give a .py file")
    module = importlib.util.module_from_spec(spec)
    # As `python file.py` does: the file's folder comes first, so sibling imports work.
    sys.path.insert(0, str(path.resolve().parent))
    sys.modules[module_name] = module
    _execute(lambda: spec.loader.exec_module(module), str(path))  # type: ignore[union-attr]
    return module


def _import_module(name: str) -> ModuleType:
    if "" not in sys.path and "." not in sys.path:
        sys.path.insert(0, "")  # as `python -m` does: modules of the working folder
    try:
        module: ModuleType = _execute(lambda: importlib.import_module(name), name)
        return module
    except CliError as exc:
        cause = exc.__cause__
        if isinstance(cause, ModuleNotFoundError) and _is_prefix(cause.name, name):
            raise CliError(f"no module named {name!r}", code=ExitCode.NOT_FOUND,
                           hint="give a path to a .py file or an importable module") from None
        raise


def _is_prefix(missing: str | None, name: str) -> bool:
    return missing is not None and (name == missing or name.startswith(missing + "."))


def _execute(load: Callable[[], Any], what: str) -> Any:
    try:
        return load()
    except SyntaxError as exc:
        raise CliError(f"cannot import {what}: SyntaxError: {exc.msg} (line {exc.lineno})",
                       code=ExitCode.FAILED) from exc
    except Exception as exc:
        raise CliError(f"cannot import {what}: {type(exc).__name__}: {exc}",
                       code=ExitCode.FAILED, hint="run with --debug for the traceback") from exc


def check_parameters(target: Target, kwargs: dict[str, object]) -> None:
    """Refuse, before anything starts, a target that cannot run: one that is neither a Stream
    nor callable, one that cannot take the options given, one whose required parameters the
    command line does not fill."""
    if isinstance(target.obj, Stream):
        if kwargs:
            raise _no_parameter(target, next(iter(kwargs)))
        return
    if not callable(target.obj):
        raise CliError(f"{target.spec} is {_describe(target.obj)}, not a Stream, a function "
                       "or an async function", code=ExitCode.USAGE,
                       hint="point TARGET at a function: file.py:NAME")
    try:
        signature = inspect.signature(target.obj)
    except (TypeError, ValueError):
        return
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in signature.parameters.values())
    for key in kwargs:
        if key not in signature.parameters and not accepts_any:
            raise _no_parameter(target, key)
    for parameter in signature.parameters.values():
        required = parameter.default is parameter.empty and parameter.kind not in (
            parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
        if required and parameter.name not in kwargs:
            raise _missing_parameter(target, parameter.name)


def _missing_parameter(target: Target, key: str) -> CliError:
    if key in _OPTIONS:
        fix = f"pass {_OPTIONS[key]}"
    else:
        fix = f"give `{key}` a default value; the command line passes only " + ", ".join(
            f"`{name}` ({option.split()[0]})" for name, option in _OPTIONS.items())
    return CliError(f"{target.spec} needs a value for its parameter {key!r}",
                    code=ExitCode.USAGE, hint=fix)


_OPTIONS = {"bootstrap": "--bootstrap HOST:PORT"}
"""The parameters ``streamguard run`` fills from its options."""


def _no_parameter(target: Target, key: str) -> CliError:
    option = "--" + key.replace("_", "-")
    return CliError(f"{target.spec} takes no {key!r} parameter", code=ExitCode.USAGE,
                    hint=f"drop {option} or add a `{key}` parameter to the target")


async def run_target(
    target: Target, kwargs: dict[str, object], pipelines: Pipelines
) -> PipelineResult | None:
    """Call, await and run whatever the target is; a Stream is run with the target's name.

    A plain function must return a Stream (the command runs it); an async function runs its
    own pipelines and may return anything (or a Stream, which the command runs). A target
    that returns an awaitable nobody awaited, calls ``stream.run()`` without ``await``, or is
    a plain function returning no Stream is a :class:`CliError` naming the fix, not a run
    that "completes" having done nothing. A Stream is started through *pipelines*, so that
    Ctrl-C drains it.
    """
    obj = target.obj
    if isinstance(obj, Stream):
        return await pipelines.start(obj, target.name).wait()
    started: list[Runtime] = []
    with _unawaited_pipelines() as forgotten:
        stop_watching = watch_pipelines(started.append)
        try:
            result = obj(**kwargs)  # type: ignore[operator]  # callable: see check_parameters
            awaited = inspect.isawaitable(result)
            if awaited:
                result = await _await(result)
        finally:
            stop_watching()
    if forgotten:
        verb = forgotten[0].rsplit(".", 1)[-1]
        raise CliError(f"{target.spec} called {forgotten[0]}() without `await`, so that "
                       "pipeline never ran", code=ExitCode.USAGE,
                       hint=f"write `await stream.{verb}(...)`")
    if inspect.isawaitable(result):
        _close(result)
        raise CliError(f"{target.spec} returned {_describe(result)} that was never awaited",
                       code=ExitCode.USAGE,
                       hint="write `return await ...`, or `await stream.run()` inside")
    if isinstance(result, Stream):
        return await pipelines.start(result, target.name).wait()
    if isinstance(result, PipelineResult):
        return result
    if awaited and not started:
        raise CliError(f"{target.spec} ran no pipeline", code=ExitCode.USAGE,
                       hint="`return` the Stream you built, or `await stream.run()` in it")
    if awaited:
        return None  # an async function ran its own pipelines; what it returns is its own
    if result is None:
        raise CliError(f"{target.spec} returned None, not a Stream", code=ExitCode.USAGE,
                       hint="`return` the Stream you built, or make the function `async` "
                            "and `await stream.run()` in it")
    raise CliError(f"{target.spec} returned {_describe(result)}, not a Stream",
                   code=ExitCode.USAGE,
                   hint="return the Stream itself (build it with .pipe(...), do not run it)")


_NEVER_AWAITED = re.compile(r"coroutine '((?:Stream|Pipeline)\.\w+)' was never awaited")


@contextlib.contextmanager
def _unawaited_pipelines() -> Iterator[list[str]]:
    """Collect the streamguard coroutines (``Stream.run``…) that were dropped unawaited while
    the block ran; Python reports them only as a warning, which we turn into the error."""
    forgotten: list[str] = []
    show = warnings.showwarning

    def record(message: Warning | str, category: type[Warning], *args: Any,
               **kwargs: Any) -> None:
        match = _NEVER_AWAITED.search(str(message))
        if match and issubclass(category, RuntimeWarning):
            forgotten.append(match.group(1))
        else:
            show(message, category, *args, **kwargs)

    warnings.showwarning = record
    try:
        yield forgotten
    finally:
        warnings.showwarning = show


def _describe(value: object) -> str:
    if inspect.iscoroutine(value):
        return f"a coroutine ({value.__qualname__})"
    name = type(value).__name__
    return f"an {name}" if name[:1].lower() in "aeiou" else f"a {name}"


def _close(awaitable: object) -> None:
    # Closing it keeps Python from adding a "never awaited" warning to our one-line error.
    close = getattr(awaitable, "close", None)
    if inspect.iscoroutine(awaitable) and close is not None:
        close()


async def _await(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
