"""The README's "API conventions", checked against every guardian's public verbs and callbacks.

Each rule is a table row here: a guardian (or a callback slot) is listed once, and every rule
that applies to it is checked by inspecting it (sync or async, parameters, ``name``'s
position) and by using it (a refusal is returned by ``try_acquire`` and raised by
``acquire``; a callback receives the item first).

Packages and guardians that do not follow the conventions yet are listed in ``NOT_YET``,
with what is missing, and are not checked: enabling one is removing it from ``NOT_YET``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from streamguard import from_iterable
from streamguard import operators as op
from streamguard.breaker import BreakerConfig, CircuitBreaker, CircuitOpenError
from streamguard.core import ConfigError
from streamguard.guard import guarded_sink
from streamguard.retry import BudgetConfig, Retry, RetryBudget, RetryConfig
from streamguard.testing import VirtualClock

NOT_YET: dict[str, str] = {
    # guardians and callback slots
}


def enabled(names: list[str]) -> list[str]:
    return [n for n in names if n not in NOT_YET]


# ---------------------------------------------------------------------------- guardians
@dataclass
class Guardian:
    """How to build one guardian and put it in a refusing state."""

    cls: type[Any]
    make: Callable[[VirtualClock], Any]
    refuse: Callable[[Any], Awaitable[None]]  # make the next try_acquire/acquire a refusal
    is_refusal: Callable[[Any], bool] | None  # is this try_acquire() result a refusal?
    # (None: it grants nothing ahead of a call, as Retry, and has no try_acquire)
    refusal_error: type[Exception] | None  # what acquire() raises; None: it has no acquire
    named: bool  # takes its name as its first argument, required
    holds_resources: bool  # timers, connections, tasks: it must have aclose()
    # It knows when its refusal ends (a limiter's retry_after), so acquire raises at once when
    # the timeout is shorter and returns as soon as it is granted, instead of sleeping first.
    predicts: bool = False


async def _open(breaker: CircuitBreaker) -> None:
    permit = breaker.try_acquire()
    assert permit is not None
    breaker.on_failure(permit, ConnectionError("down"))  # open for 1 s


async def _spend(budget: RetryBudget) -> None:
    while budget.try_acquire():
        pass


def _limiter(name: str, rate: float, burst: int, **options: Any) -> Any:
    """A RateLimiter by today's signature or the conventional one (name first), so the
    callback and policy checks do not wait for the limiter's own rename."""
    from streamguard.ratelimit import RateLimiter, TokenBucket
    cls: Any = RateLimiter
    algorithm = TokenBucket(rate=rate, burst=burst)
    if list(inspect.signature(cls.__init__).parameters)[1] == "name":
        return cls(name, algorithm, **options)
    return cls(algorithm, name=name, **options)


def _limiter_class() -> type[Any]:
    from streamguard.ratelimit import RateLimiter
    return RateLimiter


def _make_limiter(clock: VirtualClock) -> Any:
    from streamguard.ratelimit import RateLimiter, TokenBucket
    limiter: Any = RateLimiter  # the conventional signature, whatever today's is
    return limiter("api", TokenBucket(rate=1, burst=1), clock=clock)


async def _exhaust_limiter(limiter: Any) -> None:
    limiter.try_acquire()


def _limiter_refusal(decision: Any) -> bool:
    return decision.allowed is False


def _limiter_error() -> type[Exception]:
    from streamguard.ratelimit import RateLimitExceeded
    return RateLimitExceeded


GUARDIANS: dict[str, Callable[[], Guardian]] = {
    "CircuitBreaker": lambda: Guardian(
        CircuitBreaker, lambda clock: CircuitBreaker("payments", BreakerConfig(
            window_size=1, minimum_calls=1, open_duration=1.0), clock=clock), _open,
        lambda permit: permit is None, CircuitOpenError, named=True, holds_resources=True,
        predicts=True),
    "RetryBudget": lambda: Guardian(
        RetryBudget, lambda clock: RetryBudget(BudgetConfig(min_per_second=0.1, window=10),
                                               clock=clock),
        _spend, lambda granted: granted is False, None, named=False, holds_resources=False),
    "Retry": lambda: Guardian(
        Retry, lambda clock: Retry("payments", clock=clock), _open, None, None,
        named=True, holds_resources=False),
    "RateLimiter": lambda: Guardian(
        _limiter_class(), _make_limiter, _exhaust_limiter,
        _limiter_refusal, _limiter_error(), named=True, holds_resources=True, predicts=True),
}
CHECKED = enabled(list(GUARDIANS))
GRANTING = [n for n in CHECKED if GUARDIANS[n]().is_refusal is not None]


@pytest.mark.parametrize("name", CHECKED)
def test_try_acquire_is_sync_where_there_is_one(name: str) -> None:
    g = GUARDIANS[name]()
    if g.is_refusal is None:
        assert not hasattr(g.cls, "try_acquire")
        assert not hasattr(g.cls, "acquire")
        return
    assert not inspect.iscoroutinefunction(g.cls.try_acquire)


@pytest.mark.parametrize("name", GRANTING)
async def test_try_acquire_returns_a_refusal_and_never_raises_it(name: str) -> None:
    g = GUARDIANS[name]()
    assert g.is_refusal is not None
    guardian = g.make(VirtualClock())
    assert not g.is_refusal(guardian.try_acquire())
    await g.refuse(guardian)
    assert g.is_refusal(guardian.try_acquire())


@pytest.mark.parametrize("name", CHECKED)
async def test_acquire_is_async_takes_a_timeout_and_raises_on_refusal(name: str) -> None:
    g = GUARDIANS[name]()
    if g.refusal_error is None:
        assert not hasattr(g.cls, "acquire"), f"{name}.acquire must follow the convention"
        return
    assert inspect.iscoroutinefunction(g.cls.acquire)
    assert "timeout" in inspect.signature(g.cls.acquire).parameters
    clock = VirtualClock()
    guardian = g.make(clock)
    await g.refuse(guardian)
    with pytest.raises(g.refusal_error):
        await guardian.acquire(timeout=0)
    if g.predicts:  # refused for 1 s: a shorter timeout raises at once, a longer one waits
        with pytest.raises(g.refusal_error):
            await guardian.acquire(timeout=0.5)
        waiting = asyncio.create_task(guardian.acquire(timeout=2.0))
        await clock.advance(0.5)
        assert not waiting.done()
        await clock.advance(0.5)
        assert waiting.done()
        await waiting
        return
    waiting = asyncio.create_task(guardian.acquire(timeout=2.0))
    await clock.advance(1.0)
    assert not waiting.done()  # it waits up to its timeout ...
    await clock.advance(1.0)
    with pytest.raises(g.refusal_error):  # ... then raises the guardian's refusal error
        await waiting


@pytest.mark.parametrize("name", CHECKED)
async def test_aclose_is_async_and_idempotent_and_there_is_no_close(name: str) -> None:
    g = GUARDIANS[name]()
    assert not hasattr(g.cls, "close"), f"{name} has a close(); the convention is aclose()"
    if not g.holds_resources:
        return
    assert inspect.iscoroutinefunction(g.cls.aclose)
    guardian = g.make(VirtualClock())
    await g.refuse(guardian)  # a refusing breaker holds a timer
    await guardian.aclose()
    await guardian.aclose()


@pytest.mark.parametrize("name", CHECKED)
def test_name_is_the_first_argument_and_required(name: str) -> None:
    g = GUARDIANS[name]()
    if not g.named:
        return
    first = list(inspect.signature(g.cls.__init__).parameters.values())[1]
    assert first.name == "name"
    assert first.default is inspect.Parameter.empty
    assert first.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD


def test_the_breaker_s_default_acquire_timeout_is_zero() -> None:
    # The README: a breaker answers at once unless told to wait (guard section).
    assert inspect.signature(CircuitBreaker.acquire).parameters["timeout"].default == 0.0


# stages, operators and sources take name= keyword-only, optional
STAGES: dict[str, tuple[str, str]] = {
    "guarded_sink": ("streamguard.guard", "guarded_sink"),
    "rate_limit": ("streamguard.ratelimit", "rate_limit"),
    "throttle_by_lag": ("streamguard.kafka", "throttle_by_lag"),
    "from_iterable": ("streamguard.sources", "from_iterable"),
    "from_async_iterable": ("streamguard.sources", "from_async_iterable"),
    **{f"op.{n}": ("streamguard.operators", n) for n in op.__all__
       if inspect.isfunction(getattr(op, n))},
}


@pytest.mark.parametrize("stage", enabled(list(STAGES)))
def test_stages_take_name_keyword_only_and_optional(stage: str) -> None:
    module, attr = STAGES[stage]
    parameter = inspect.signature(getattr(importlib.import_module(module), attr)).parameters[
        "name"]
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY
    assert parameter.default is None


# ---------------------------------------------------------------------------- callbacks
async def _failing(item: int) -> None:
    raise ConnectionError(f"down for {item}")


async def _guarded_dead_letter(callback: Callable[..., Any]) -> None:
    await from_iterable([7]).pipe(guarded_sink(
        _failing, dead_letter=callback, clock=VirtualClock())).run()


async def _guarded_fallback(callback: Callable[..., Any]) -> None:
    breaker = CircuitBreaker("fallback", clock=VirtualClock())
    breaker.force_open()
    await from_iterable([7]).pipe(guarded_sink(
        _failing, breaker=breaker, on_open="fallback", fallback=callback,
        clock=VirtualClock())).run()


async def _rate_limit_on_reject(callback: Callable[..., Any]) -> None:
    from streamguard.ratelimit import rate_limit
    limiter = _limiter("reject", rate=0.001, burst=1)
    await from_iterable([6, 7]).pipe(
        rate_limit(limiter, mode="police", on_reject=callback), op.sink(lambda x: None)).run()


async def _map_on_error(callback: Callable[..., Any]) -> None:
    # map is a sync stage: it refuses an async callback when the pipeline is built, so the
    # async form of this slot is map_async's, which awaits it.
    def boom(x: int) -> int:
        raise ValueError(f"bad {x}")

    async def boom_async(x: int) -> int:
        raise ValueError(f"bad {x}")

    if inspect.iscoroutinefunction(callback):
        with pytest.raises(TypeError, match="on_error must be a plain function"):
            op.map(boom, on_error=callback)
        stage = op.map_async(boom_async, on_error=callback)
    else:
        stage = op.map(boom, on_error=callback)
    await from_iterable([7]).pipe(stage, op.sink(lambda x: None)).run()


# slot -> (run a pipeline whose only item, 7, reaches the callback; what the 2nd argument is)
CALLBACK_SLOTS: dict[str, tuple[Callable[[Callable[..., Any]], Awaitable[None]], type[Any]]] = {
    "guarded_sink.dead_letter": (_guarded_dead_letter, BaseException),
    "guarded_sink.fallback": (_guarded_fallback, BaseException),
    "rate_limit.on_reject": (_rate_limit_on_reject, object),
    "map.on_error": (_map_on_error, BaseException),
}


@pytest.mark.parametrize("slot", enabled(list(CALLBACK_SLOTS)))
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_callbacks_take_the_item_first_sync_or_async(slot: str, kind: str) -> None:
    run, second = CALLBACK_SLOTS[slot]
    seen: list[tuple[Any, Any]] = []

    def sync_callback(item: Any, other: Any) -> Any:
        seen.append((item, other))
        return item

    async def async_callback(item: Any, other: Any) -> Any:
        await asyncio.sleep(0)
        seen.append((item, other))
        return item

    await run(sync_callback if kind == "sync" else async_callback)
    assert seen, f"{slot} was never called"
    assert seen[-1][0] == 7
    assert isinstance(seen[-1][1], second)


def _kafka_dead_letter() -> list[str]:
    from streamguard.kafka import KafkaSource
    assert not inspect.iscoroutinefunction(KafkaSource.dead_letter)  # fits sync slots too
    return list(inspect.signature(KafkaSource.dead_letter).parameters)[1:]


def _item_callback() -> list[str]:
    from streamguard.guard import ItemCallback
    params, _ = typing.get_args(ItemCallback)
    return ["item" if p is Any else p.__name__ for p in params]


# a callback slot's declared parameters, or a callable meant for every (item, error) slot
DECLARED: dict[str, tuple[Callable[[], list[str]], list[str]]] = {
    "KafkaSource.dead_letter": (_kafka_dead_letter, ["item", "error"]),
    "guard.ItemCallback": (_item_callback, ["item", "BaseException"]),
}


@pytest.mark.parametrize("name", enabled(list(DECLARED)))
def test_declared_callbacks_take_the_item_first(name: str) -> None:
    read, expected = DECLARED[name]
    params = read()
    assert len(params) == len(expected)
    assert params[1] == expected[1]


# ---------------------------------------------------------------------------- sync or async
async def _plain(item: Any) -> Any:
    return item


def _sync(item: Any) -> Any:
    return item


SYNC: Any = _sync  # typed Any: these calls are wrong on purpose
ASYNC: Any = _plain

# the operator refuses a function of the wrong kind when the pipeline is built
WRONG_KIND: dict[str, Callable[[], object]] = {
    "guarded_sink(plain def)": lambda: guarded_sink(SYNC),
    "map(async def)": lambda: op.map(ASYNC),
    "map_async(plain def)": lambda: op.map_async(SYNC),
    "CircuitBreaker(plain def)": lambda: CircuitBreaker("kind")(SYNC),
    "Retry(plain def)": lambda: Retry("kind")(SYNC),
    "BreakerConfig(is_failure=async def)": lambda: BreakerConfig(
        is_failure=ASYNC),
    "RetryConfig(retry_if=async def)": lambda: RetryConfig(
        retry_if=ASYNC),
}


@pytest.mark.parametrize("case", enabled(list(WRONG_KIND)))
def test_a_callable_of_the_wrong_kind_is_refused_at_build_time(case: str) -> None:
    with pytest.raises((TypeError, ConfigError)) as info:
        WRONG_KIND[case]()
    message = str(info.value)
    assert "async" in message  # names the fix: `async def`, or a plain function instead


# ---------------------------------------------------------------------------- policies
def _policy(module: str, name: str) -> Any:
    return getattr(importlib.import_module(module), name)


def _rate_limit_mode(mode: Any) -> object:
    from streamguard.ratelimit import rate_limit
    return rate_limit(_limiter("mode", rate=1, burst=1), mode=mode)


POLICIES: dict[str, tuple[str, str, Callable[[Any], object] | None]] = {
    "guard.on_open": ("streamguard.guard", "OnOpen",
                      lambda v: guarded_sink(ASYNC, on_open=v)),
    "retry.backoff": ("streamguard.retry", "Backoff",
                      lambda v: RetryConfig(backoff=v)),
    "breaker.window": ("streamguard.breaker", "WindowKind",
                       lambda v: BreakerConfig(window=v)),
    "rate_limit.mode": ("streamguard.ratelimit", "Mode", lambda v: _rate_limit_mode(v)),
    "buffer.overflow": ("streamguard.operators", "OverflowPolicy",
                        lambda v: op.buffer(8, overflow=v)),
}


@pytest.mark.parametrize("policy", enabled(list(POLICIES)))
def test_policies_are_literal_strings_checked_at_build_time(policy: str) -> None:
    module, name, build = POLICIES[policy]
    alias = _policy(module, name)
    assert typing.get_origin(alias) is typing.Literal, f"{name} is not a Literal"
    allowed = typing.get_args(alias)
    assert all(isinstance(v, str) for v in allowed)
    if build is None:
        return
    with pytest.raises(ConfigError) as info:
        build("no-such-policy")
    assert all(repr(v) in str(info.value) for v in allowed)  # names the allowed ones


def test_backpressure_is_the_one_word_for_waiting() -> None:
    for policy in enabled(["guard.on_open", "rate_limit.mode", "buffer.overflow"]):
        module, name, _ = POLICIES[policy]
        values = [str(v) for v in typing.get_args(_policy(module, name))]
        assert "backpressure" in values, policy
        assert "shape" not in values, policy


# ---------------------------------------------------------------------------- __module__
PACKAGES = [
    "streamguard", "streamguard.core", "streamguard.operators", "streamguard.sources",
    "streamguard.interop", "streamguard.testing", "streamguard.ratelimit",
    "streamguard.breaker", "streamguard.retry", "streamguard.guard", "streamguard.kafka",
    "streamguard.metrics", "streamguard.cli", "streamguard.demo", "streamguard.servers",
    "streamguard.adaptive",
]


@pytest.mark.parametrize("package", enabled(PACKAGES))
def test_every_export_carries_its_public_path(package: str) -> None:
    module = importlib.import_module(package)
    wrong = []
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue  # aliases (Permit = int, Literal policies) have no module of their own
        home = obj.__module__
        if not home.startswith("streamguard"):
            continue  # a re-export of another library's name
        public = not any(part.startswith("_") for part in home.split("."))
        if not public or getattr(importlib.import_module(home), obj.__name__, None) is not obj:
            wrong.append(f"{name}: {home}")
    assert wrong == []


TIMED = [  # everything whose logic depends on time, by public path
    "streamguard.operators.batch", "streamguard.operators.debounce", "streamguard.operators.delay",
    "streamguard.operators.interval", "streamguard.operators.sample",
    "streamguard.operators.throttle_first", "streamguard.operators.timeout",
    "streamguard.operators.window", "streamguard.operators.group_by",
    "streamguard.ratelimit.RateLimiter", "streamguard.ratelimit.CompositeLimiter",
    "streamguard.breaker.CircuitBreaker", "streamguard.retry.Retry",
    "streamguard.retry.RetryBudget", "streamguard.guard.guarded_sink",
    "streamguard.kafka.KafkaSource", "streamguard.kafka.throttle_by_lag",
    "streamguard.adaptive.AdaptiveLimit", "streamguard.adaptive.shed",
]


@pytest.mark.parametrize("path", TIMED)
def test_logic_that_depends_on_time_takes_an_injected_clock(path: str) -> None:
    package, name = path.rsplit(".", 1)
    parameter = inspect.signature(getattr(importlib.import_module(package), name)).parameters.get(
        "clock")
    assert parameter is not None
    assert parameter.kind is inspect.Parameter.KEYWORD_ONLY


def test_every_exported_error_is_in_the_one_exception_tree() -> None:
    # streamguard.core's module docstring draws the one exception tree users catch from; an
    # error a package exports but the tree does not show is one users cannot find.
    from streamguard.core import StreamGuardError, _errors

    missing = sorted({
        name for package in PACKAGES for name in importlib.import_module(package).__all__
        if inspect.isclass(obj := getattr(importlib.import_module(package), name))
        and issubclass(obj, StreamGuardError) and f" {name} " not in (_errors.__doc__ or "")
    })
    assert missing == []


def test_the_issue_s_example() -> None:
    assert CircuitOpenError.__module__ == "streamguard.breaker"


# ---------------------------------------------------------------------------- drain
DRAINERS = {  # every public class with a drain(), by public path: the README's row names them
    "streamguard.core.Pipeline", "streamguard.core.Publisher", "streamguard.kafka.KafkaSource",
    "streamguard.kafka.TransactionalPipeline",
}


def _classes_with_drain() -> set[str]:
    found = set()
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and callable(getattr(obj, "drain", None)):
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    return found


def test_every_drain_is_listed() -> None:
    assert _classes_with_drain() == DRAINERS


@pytest.mark.parametrize("path", sorted(DRAINERS))
def test_drain_is_one_plain_method_returning_a_draining(path: str) -> None:
    from streamguard.core import Draining, PipelineResult

    package, name = path.rsplit(".", 1)
    drain = getattr(importlib.import_module(package), name).drain
    assert not inspect.iscoroutinefunction(drain)  # the call itself starts the drain
    parameters = list(inspect.signature(drain).parameters.values())
    assert [(p.name, p.default) for p in parameters] == [("self", inspect.Parameter.empty),
                                                        ("timeout", None)]
    hints = typing.get_type_hints(drain)
    assert hints["timeout"] == float | None
    assert hints["return"] == Draining[PipelineResult]


def test_the_readme_row_on_drain_names_every_kind_and_the_handle() -> None:
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    [row] = [line for line in readme.splitlines() if line.startswith("| `drain(timeout)`")]
    for path in DRAINERS:
        assert f"`{path.rsplit('.', 1)[1]}`" in row, path
    assert "`drain(timeout: float | None = None) -> Draining`" in row
    assert "`PipelineResult`" in row
