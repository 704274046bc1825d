"""Shared breaker state: every process that names a breaker alike sees one breaker.

gobreaker's distributed breaker, with resilience4j's rules: the breaker's outcomes go to one
atomic Lua script (``lua/shared.lua``) that keeps the failure window and decides the state on
the Redis server's clock (TIME), so N workers open together on one window, and a half-open
cycle hands out ``half_open_probes`` probe leases across all of them (a lease that outlives
``probe_timeout`` counts as a failed probe).

A permit stays a synchronous attribute read: the breaker answers from the state it last heard
(the hot path is unchanged), and this module keeps that view fresh without a round trip per
call:

* every outcome is queued and sent in the background, batched (one script call in flight per
  breaker; what settles meanwhile goes in the next batch; a batch of successes alone waits
  ``BATCH_DELAY`` for company), and the answer carries the shared state, so a worker that is
  making calls learns of an opening from its next answer;
* while the outcomes not answered yet would bring the shared window to its threshold, the
  async entry points wait for the answer before the next call (``wait_shared``), so an
  opening decided anywhere stops this worker's next call, not the one after; a healthy
  stream never waits;
* an ``OPEN`` state ends on a local timer set to the server's remaining time, which then asks
  the script (that is what moves the shared state to ``HALF_OPEN``);
* a worker refused in ``HALF_OPEN`` asks for a probe lease when it next checks; and every
  worker not ``OPEN`` checks the shared state every ``sync_interval`` seconds even when it
  makes no calls (one script call; 2 a second by default), so an idle worker follows too.

One config per shared state: the state records the config string its first caller sent, and
a breaker whose config differs (a threshold, a window, a duration) changes nothing there; it
logs an error once, decides alone (published as :class:`SharedStateLost`, counted as an outage)
and its :meth:`~streamguard.breaker.CircuitBreaker.sync` raises
:class:`~streamguard.core.ConfigError` naming the fields that differ. Mixed rules on one
window would open it at a threshold that depends on which process called last. It checks
again every ``outage_probe`` seconds, and joins once the state is gone (deleted, or expired
when the other config's processes stopped).

Redis unreachable: the breaker goes on alone, as an ordinary in-process breaker, from where it
was (the batch that could not be sent is judged locally, so no outcome is lost); the outage is
logged once, published as :class:`SharedStateLost`, counted; every ``outage_probe`` seconds
one call checks Redis, and when it answers the breaker takes the shared state again
(:class:`SharedStateRestored`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import zip_longest
from typing import Any, Protocol

from ..core._checks import is_number
from ..core._clock import Clock
from ..core._errors import ConfigError, StreamGuardError, require
from ..core._redis import RedisConnection, Script, parse_uri
from ._config import BreakerConfig
from ._state import State
from ._timers import start_timer

_log = logging.getLogger("streamguard.breaker")

DEFAULT_PREFIX = "streamguard:cb:"
DEFAULT_TIMEOUT = 0.5
IDLE_TTL = 86_400.0
"""Seconds an unused breaker's keys stay in Redis."""
BATCH_DELAY = 0.002
"""Seconds a batch of successes alone waits for more outcomes before it is sent."""


class SharedStateUnavailable(StreamGuardError):
    """Internal: Redis did not answer; the breaker decides alone until it does."""


class SharedConfigConflict(StreamGuardError):
    """Internal: the shared state is governed by another config, *stored* (its string)."""

    def __init__(self, stored: str) -> None:
        super().__init__(stored)
        self.stored = stored


CONFIG_FIELDS = (
    "failure_rate_threshold", "slow_call_rate_threshold", "slow_calls_measured", "window",
    "window_size", "minimum_calls", "open_duration_ms", "open_duration_multiplier",
    "max_open_duration_ms", "half_open_probes", "half_open_successes", "probe_timeout_ms",
    "idle_ttl_ms", "slow_call_duration_ms")
"""The fields of the config string (:func:`_config_arg`), in order, to name a difference."""


def config_difference(ours: str, theirs: str) -> str:
    """``"window_size 4 here, 100 in the shared state; …"``: the fields that differ."""
    return "; ".join(
        f"{field} {mine} here, {stored} in the shared state"
        for field, mine, stored in zip_longest(CONFIG_FIELDS, ours.split("|"),
                                               theirs.split("|"), fillvalue="(none)")
        if mine != stored)


@cache
def _script() -> Script:
    return Script((resources.files(__package__) / "lua" / "shared.lua").read_text())


def _positive(value: object) -> bool:
    return is_number(value) and isinstance(value, int | float) and 0 < value < float("inf")


@dataclass(frozen=True, slots=True)
class SharedView:
    """The shared state as one script call left it."""

    state: State
    epoch: int
    open_remaining: float
    open_for: float
    reopens: int
    holds_lease: bool
    calls: int
    failures: int
    slow: int
    why: str


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisBreakerStorage:
    """Where circuit breakers keep shared state: one Redis, reached by every worker.

    A breaker named ``"payments"`` keeps its state under ``prefix + "payments"``; every
    process whose breaker has that name and this storage shares it. One storage (one
    connection pool) may serve many breakers.

    Args:
        uri: ``redis[s]://[user:password@]host:port/db`` — the query may also set
            ``timeout``, ``prefix`` and, for ``rediss://``, ``ssl_ca_certs``,
            ``ssl_certfile``, ``ssl_keyfile`` (see :meth:`from_uri`).
        prefix: key prefix (default ``"streamguard:cb:"``).
        timeout: seconds for connecting and for each call (default 0.5); past it, Redis
            counts as unreachable.
        tls: PEM files for ``rediss://``.
        sync_interval: seconds between checks of the shared state while this process waits
            on another's probe or on a state set by hand (default 0.5).
        outage_probe: seconds between checks of an unreachable Redis (default 1.0).

    Example::

        storage = RedisBreakerStorage.from_uri("redis://10.0.0.5:6379/0?timeout=0.2")
        breaker = CircuitBreaker("payments", storage=storage)
    """

    def __init__(self, uri: str, *, prefix: str = DEFAULT_PREFIX,
                 timeout: float = DEFAULT_TIMEOUT, tls: Mapping[str, str] | None = None,
                 sync_interval: float = 0.5, outage_probe: float = 1.0) -> None:
        require(isinstance(prefix, str), "prefix must be a str", prefix)
        require(_positive(timeout), "timeout must be a number > 0 (seconds)", timeout)
        require(_positive(sync_interval), "sync_interval must be a number > 0 (seconds)",
                sync_interval)
        require(_positive(outage_probe), "outage_probe must be a number > 0 (seconds)",
                outage_probe)
        self._connection = RedisConnection(uri, timeout=float(timeout), tls=tls,
                                           unavailable=SharedStateUnavailable,
                                           what="breaker storage URI")
        self.uri = self._connection.uri
        self.prefix = prefix
        self.timeout = float(timeout)
        self.sync_interval = float(sync_interval)
        self.outage_probe = float(outage_probe)

    def __repr__(self) -> str:
        return f"<RedisBreakerStorage {self.uri} prefix={self.prefix!r}>"

    @classmethod
    def from_uri(cls, uri: str, **options: Any) -> RedisBreakerStorage:
        """Build from ``redis[s]://[user:password@]host:port/db?timeout=…&prefix=…``
        (and the TLS files for ``rediss://``); *options* are the other keyword arguments."""
        parsed = parse_uri(uri, what="breaker storage URI", prefix=DEFAULT_PREFIX,
                           timeout=DEFAULT_TIMEOUT)
        return cls(parsed.uri, prefix=parsed.prefix, timeout=parsed.timeout,
                   tls=parsed.tls, **options)

    async def run(self, name: str, args: list[Any]) -> SharedView:
        """Run the state script for breaker *name* (internal)."""
        base = self.prefix + name
        raw = await self._connection.run(_script(), [base, f"{base}:window",
                                                     f"{base}:probes"], args)
        if _text(raw[0]) == "CONFLICT":
            raise SharedConfigConflict(_text(raw[1]))
        state, epoch, remaining, open_for, reopens, holds, calls, failures, slow, why = raw
        return SharedView(State(_text(state)), int(epoch), int(remaining) / 1000,
                          int(open_for) / 1000, int(reopens), int(holds) == 1, int(calls),
                          int(failures), int(slow), _text(why))

    async def delete(self, name: str) -> None:
        """Forget breaker *name*'s shared state (every process starts again from ``CLOSED``)."""
        base = self.prefix + name
        await self._connection.call("delete", base, f"{base}:window", f"{base}:probes")

    async def aclose(self) -> None:
        """Close the connection pool; idempotent (a later call opens a new one)."""
        await self._connection.aclose()


def _config_arg(config: BreakerConfig) -> str:
    """The config as the script reads it (ARGV[8], one string)."""
    return "|".join([
        repr(config.failure_rate_threshold), repr(config.slow_call_rate_threshold),
        "1" if config.slow_call_duration is not None else "0", config.window,
        str(config.window_size), str(config.minimum_calls),
        str(round(config.open_duration * 1000)), repr(config.open_duration_multiplier),
        str(round(config.max_open_duration * 1000)), str(config.half_open_probes),
        str(config.half_open_successes), str(round(config.probe_timeout * 1000)),
        str(round(IDLE_TTL * 1000)),
        "-" if config.slow_call_duration is None else repr(config.slow_call_duration * 1000)])


class LinkedBreaker(Protocol):
    """What a :class:`SharedLink` reads of its breaker and calls back on it (the breaker's
    state machine, ``_machine.py``, is one)."""

    name: str
    config: BreakerConfig
    _clock: Clock
    _rng: random.Random
    _waiters: list[asyncio.Future[None]]
    """Calls waiting for a permit: a poll then asks for a probe lease."""

    def _adopt(self, view: SharedView, moved: bool) -> None:
        """Take the shared state one script call returned (*moved*: its epoch changed)."""
        ...

    def _go_local(self, error: str, batch: str) -> None:
        """Redis stopped answering: judge *batch* here and go on alone."""
        ...

    def _rejoin(self, view: SharedView, duration: float) -> None:
        """Redis answers again after *duration* seconds: take its state."""
        ...


class SharedLink:
    """One breaker's link to its shared state: the outcome queue, the background script
    calls, the outage bookkeeping. The breaker calls :meth:`record`, :meth:`sync` and
    :meth:`set_state`; the link calls back the breaker's ``_adopt``, ``_go_local`` and
    ``_rejoin`` (see :class:`LinkedBreaker`)."""

    __slots__ = ("_answer", "_args", "_breaker", "_claim", "_outcomes", "_owns", "_poll",
                 "_sent", "_set", "_sync", "_task", "_unanswered", "began", "closed",
                 "conflict", "epoch", "lease", "local_outcomes", "outages", "owner", "storage",
                 "up", "view", "wanted")

    def __init__(self, breaker: LinkedBreaker, storage: RedisBreakerStorage,
                 owns: bool) -> None:
        self._breaker = breaker
        self.storage = storage
        self._owns = owns
        self._args = _config_arg(breaker.config)
        self.owner = uuid.uuid4().hex
        self.up = True
        self.epoch = -1  # not heard yet
        self.view: SharedView | None = None
        self._outcomes: list[str] = []
        self._sync = False
        self._claim = False
        self._set: State | None = None
        self._task: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[None] | None = None
        # Outcomes not answered yet (queued or in flight) as [calls, failures, slow], and
        # those of the batch in flight, so the threshold can be judged before the answer.
        self._unanswered = [0, 0, 0]
        self._sent = (0, 0, 0)
        self._poll: Any = None
        self.closed = False
        self.lease = False  # holds a probe lease of the current half-open cycle, unused
        self.wanted = False  # a call was refused since the last lease request
        self.began = 0.0
        self.outages = 0
        self.local_outcomes = 0
        self.conflict: ConfigError | None = None
        """Set while the shared state is governed by another config (this one decides alone)."""

    # ------------------------------------------------------------------ requests
    def record(self, outcome: str) -> None:
        """Queue one outcome of the current epoch (``'0'`` … ``'3'``, ``'r'``)."""
        self._outcomes.append(outcome)
        if outcome != "r":
            code = int(outcome)
            pending = self._unanswered
            pending[0] += 1
            pending[1] += code & 1
            pending[2] += code >> 1
        self._kick()

    def holding(self) -> bool:
        """Whether an answer is on its way and the shared window, with the outcomes it has
        not answered yet, stands at a threshold: the answer may open the breaker, so calls
        wait for it (see ``CircuitBreaker.wait_shared``). A healthy stream never waits."""
        if not self.busy:
            return False
        view = self.view
        calls, failures, slow = self._unanswered
        if view is not None:
            if view.state is not State.CLOSED:
                return False
            calls, failures, slow = calls + view.calls, failures + view.failures, \
                slow + view.slow
        cfg = self._breaker.config
        if cfg.window == "count":
            # The new outcomes push the oldest out: if those were successes, the rates rise.
            calls = min(calls, cfg.window_size)
        if not calls:
            return False
        return (failures / calls >= cfg.failure_rate_threshold
                or (cfg.slow_call_duration is not None
                    and slow / calls >= cfg.slow_call_rate_threshold))

    def sync(self, claim: bool = False) -> None:
        """Ask for the shared state (and a probe lease if *claim* and one is free)."""
        self._sync = True
        self._claim = self._claim or claim
        self._kick()

    def set_state(self, state: State) -> None:
        """Set the shared state by hand (``reset``, ``force_open``, ``disable``)."""
        self._set = state
        self._outcomes.clear()
        self._unanswered = [0, 0, 0]
        self._kick()

    @property
    def busy(self) -> bool:
        """An answer from Redis is on its way."""
        return self._task is not None and not self._task.done()

    async def answer(self) -> None:
        """Wait for the next answer from Redis (at once if none is on its way). Each call is
        bounded by the storage timeout, and a failure ends the wait too."""
        if not self.busy:
            return
        if self._answer is None:
            self._answer = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._answer)

    def _answered(self) -> None:
        if self._answer is not None:
            if not self._answer.done():
                self._answer.set_result(None)
            self._answer = None

    async def settle(self) -> None:
        """Send what is queued, read the shared state, and wait for the answer."""
        self.sync()
        task = self._task
        if task is not None and not task.done():
            await asyncio.shield(task)

    def _kick(self) -> None:
        if not self.up or (self._task is not None and not self._task.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet: the queue is sent on the next request made inside one
        self._task = loop.create_task(self._run(), name=f"streamguard-breaker-sync-{id(self)}")

    # ------------------------------------------------------------------ the script calls
    def _request(self) -> tuple[list[str], str]:
        batch = "".join(self._outcomes)
        self._outcomes.clear()
        self._sent = (sum(c != "r" for c in batch), sum(c in "13" for c in batch),
                      sum(c in "23" for c in batch))
        if self._set is not None:
            op, target = "set", self._set.value
            self._set = None
        else:
            op, target = ("record" if batch else "sync"), ""
        claim = "1" if self._claim else "0"
        if self._claim:
            self.wanted = False
        self._sync = self._claim = False
        cfg = self._breaker.config
        unit = self._breaker._rng.random() if cfg.open_duration_jitter else 0.0
        jitter = repr(1.0 - cfg.open_duration_jitter * unit) if unit else "1"
        return [op, self.owner, str(self.epoch), batch, claim, target, jitter,
                self._args], batch

    async def _run(self) -> None:
        try:
            await self._exchange()
        finally:
            self._answered()  # whatever happened, nobody keeps waiting for an answer

    async def _exchange(self) -> None:
        while self.up and (self._outcomes or self._sync or self._claim
                           or self._set is not None):
            if self._only_successes():
                # Successes cannot open a closed breaker: a batch of them waits a moment for
                # company, so a healthy stream costs one script call per BATCH_DELAY, not one
                # per round trip. A failure, a probe's result or a request goes at once.
                await self._breaker._clock.sleep(BATCH_DELAY)
                if not self.up:
                    return
            args, batch = self._request()
            try:
                view = await self.storage.run(self._breaker.name, args)
            except SharedConfigConflict as exc:
                self._unanswered = [0, 0, 0]
                self._conflicted(exc, batch if args[0] == "record" else "")
                self._answered()
                return
            except Exception as exc:  # any failure: decide alone, say why
                # Unreachable, or an error answer (READONLY replica, OOM, a key of another
                # type): either way this batch was not judged there.
                self._unanswered = [0, 0, 0]
                self._lost(exc, batch if args[0] == "record" else "")
                self._answered()
                return
            moved = view.epoch != self.epoch
            if moved and self.epoch >= 0:
                self._outcomes.clear()  # settled in an epoch that is over: stale
                self._unanswered = [0, 0, 0]
            else:
                self._unanswered = [max(0, a - b) for a, b in
                                    zip(self._unanswered, self._sent, strict=True)]
            self.epoch = view.epoch
            self.view = view
            self._breaker._adopt(view, moved)
            self._schedule_poll(view)
            self._answered()

    def _only_successes(self) -> bool:
        return (self._unanswered[1] == 0 and self._unanswered[2] == 0 and not self._sync
                and not self._claim and self._set is None and self.view is not None
                and self.view.state is State.CLOSED and "r" not in self._outcomes)

    def _schedule_poll(self, view: SharedView) -> None:
        """Ask again in ``sync_interval`` seconds, so that a process that makes no calls
        still follows the others (an opening, another's probe, a state set by hand). An
        ``OPEN`` state needs no polling: its end is a timer, and nobody may call meanwhile
        (a manual change in between is heard when it ends)."""
        if view.state is not State.OPEN and self._poll is None and not self.closed:
            self._poll = self._after(self.storage.sync_interval, self._polled)

    def _polled(self) -> None:
        self._poll = None
        self.sync(claim=self.wanted or bool(self._breaker._waiters))

    def _after(self, delay: float, fn: Callable[[], None]) -> Any:
        return start_timer(self._breaker._clock, delay, fn)

    # ------------------------------------------------------------------ outages
    def _conflicted(self, conflict: SharedConfigConflict, batch: str) -> None:
        """The shared state is governed by another config: go alone (as in an outage, so the
        batch is judged here and nothing is lost), say so once, loudly, and check again every
        ``outage_probe`` seconds in case the state is deleted or expires."""
        if self.closed:
            return
        breaker = self._breaker
        error = ConfigError(
            f"CircuitBreaker {breaker.name!r}: its shared state ({self.storage.prefix}"
            f"{breaker.name} at {self.storage.uri}) is governed by another config: "
            f"{config_difference(self._args, conflict.stored)}. Every process that shares a "
            "breaker must give it the same BreakerConfig; this one decides alone meanwhile. "
            "Fix the config, or give this config its own breaker name, or delete the old "
            "state (RedisBreakerStorage.delete) once no process uses the old config")
        if self.conflict is None:
            _log.error("%s", error)
        self.conflict = error
        if self.up:
            self.up = False
            self.outages += 1
            self.began = breaker._clock.now()
            self._outcomes.clear()
            self._set = None
            breaker._go_local(str(error), batch)
        if self._poll is None:
            self._poll = self._after(self.storage.outage_probe, self._probe_outage)

    def _lost(self, error: BaseException, batch: str) -> None:
        if self.closed:
            return
        self.up = False
        self.outages += 1
        self.began = self._breaker._clock.now()
        self._outcomes.clear()
        self._set = None
        _log.warning("circuit breaker %r: shared state %s is unreachable (%s); deciding "
                     "alone from this process's calls until it answers again",
                     self._breaker.name, self.storage.uri, error)
        self._breaker._go_local(str(error), batch)
        self._poll = self._after(self.storage.outage_probe, self._probe_outage)

    def _probe_outage(self) -> None:
        self._poll = None
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._task = loop.create_task(self._rejoin(), name="streamguard-breaker-rejoin")

    async def _rejoin(self) -> None:
        args, _ = self._request()
        args[0], args[3] = "sync", ""
        try:
            view = await self.storage.run(self._breaker.name, args)
        except SharedConfigConflict as exc:
            self._conflicted(exc, "")  # still (or now) another config's state
            return
        except Exception:  # still down (logged once, when it began)
            if not self.closed:
                self._poll = self._after(self.storage.outage_probe, self._probe_outage)
            return
        if self.closed:
            return
        if self.conflict is not None:
            _log.info("circuit breaker %r: the shared state of another config is gone; "
                      "sharing again", self._breaker.name)
            self.conflict = None
        self.up = True
        self.epoch = view.epoch
        self.view = view
        duration = self._breaker._clock.now() - self.began
        _log.info("circuit breaker %r: shared state %s answers again after %.3f s; %d call "
                  "outcomes were judged alone meanwhile", self._breaker.name,
                  self.storage.uri, duration, self.local_outcomes)
        self._breaker._rejoin(view, duration)
        self._schedule_poll(view)
        self._kick()

    async def aclose(self) -> None:
        """Send what is queued if Redis answers, stop the background work, and close the
        connection if the breaker made it."""
        if self.closed:
            return
        task = self._task
        if task is not None and not task.done() and self.up:
            try:
                await asyncio.wait_for(asyncio.shield(task), self.storage.timeout * 2)
            except Exception:  # closing: what did not go stays local
                task.cancel()
        # From here on the breaker decides alone (it keeps answering, as every guardian does
        # after aclose), without an outage to log or count.
        self.closed = True
        self.up = False
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._poll is not None:
            self._poll.cancel()
            self._poll = None
        self._answered()
        if self._owns:
            await self.storage.aclose()
