"""``redis://host:port/db``: limiter state in Redis, shared by every process that uses it.

Each decision is one atomic Lua script (``lua/decide.lua`` with the algorithms of
``lua/<kind>.lua``), run with EVALSHA on one round trip, on the Redis server's clock (TIME), so
processes on machines with different clocks still share one limit exactly. A composite decision
checks and commits all its tiers in the same script. Idle state expires by itself (PEXPIRE to
the moment it would be full again), so Redis memory is bounded by the active keys.

URI: ``redis://[[user]:password@]host[:port][/db][?timeout=0.5&prefix=streamguard:rl:]``
(also ``rediss://`` for TLS). ``timeout`` bounds connect and each call in seconds; a failure
is reported at once (no client-side retries): the limiter applies its failure mode.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from streamguard.core._redis import RedisConnection, Script, parse_uri

from ..algorithms._base import Decision, new_decision
from ._base import Binding, Storage, StorageUnavailable, TierSpec, uncommitted

DEFAULT_PREFIX = "streamguard:rl:"
DEFAULT_TIMEOUT = 0.5

_ALGORITHM_FILES = ("token_bucket", "gcra", "leaky_meter", "leaky_shaper", "fixed_window",
                    "sliding_log", "sliding_counter")


@cache
def script_source(main: str) -> str:
    """The Lua text of script *main* (``"decide"`` or ``"penalize"``) with its helpers."""
    folder = resources.files(__package__) / "lua"
    parts = ["common", *_ALGORITHM_FILES] if main == "decide" else ["common"]
    return "\n".join((folder / f"{name}.lua").read_text() for name in [*parts, main])


@cache
def _script(main: str) -> Script:
    return Script(script_source(main))


class RedisBinding(Binding):
    """Tiers bound to Redis key names and the registered scripts."""

    def __init__(self, storage: RedisStorage, tiers: Sequence[TierSpec]) -> None:
        self._storage = storage
        self._tiers = tuple(tiers)
        self._args: list[Any] = []
        for _, algorithm in self._tiers:
            self._args.extend((algorithm.kind, *algorithm.lua_params()))

    def _keys(self, keys: Sequence[Hashable]) -> list[str]:
        prefix = self._storage.prefix
        names: list[str] = []
        for (name, _), key in zip(self._tiers, keys, strict=True):
            base = f"{prefix}{name}" if key is None else f"{prefix}{name}:{key}"
            names.extend((base, f"{base}:log"))
        return names

    async def decide(self, keys: Sequence[Hashable], cost: float, now: float) -> list[Decision]:
        """One round trip: check every tier, commit all or nothing."""
        raw = await self._storage.run("decide", self._keys(keys), [repr(float(cost)),
                                                                   *self._args])
        decisions: list[Decision] = []
        for i, (name, algorithm) in enumerate(self._tiers):
            allowed, remaining, retry, reset = raw[4 * i: 4 * i + 4]
            decisions.append(new_decision(Decision, (
                allowed in (b"1", "1"), algorithm.limit, float(remaining), float(retry),
                float(reset), algorithm, name, ())))
        if len(decisions) > 1 and not all(d.allowed for d in decisions):
            return uncommitted(decisions, cost)
        return decisions

    async def penalize(self, keys: Sequence[Hashable], seconds: float, now: float) -> None:
        """Set the penalty on every tier's state, on the server's clock."""
        await self._storage.run("penalize", self._keys(keys)[::2], [repr(float(seconds))])

    async def reset(self, keys: Sequence[Hashable]) -> None:
        """Delete every tier's state."""
        await self._storage.call("delete", *self._keys(keys))


class RedisStorage(Storage):
    """Limiter state in Redis (``redis.asyncio``), shared across processes.

    The connection (:class:`streamguard.core._redis.RedisConnection`, shared with the
    circuit breaker's shared state) is made lazily on first use, in the running event loop.
    """

    def __init__(self, uri: str, *, prefix: str = DEFAULT_PREFIX,
                 timeout: float = DEFAULT_TIMEOUT, tls: Mapping[str, str] | None = None) -> None:
        self._connection = RedisConnection(uri, timeout=timeout, tls=tls,
                                           unavailable=StorageUnavailable)
        self.prefix = prefix
        self.timeout = timeout
        self.uri = self._connection.uri

    @classmethod
    def from_uri(cls, uri: str) -> RedisStorage:
        """Build from ``redis[s]://[user:password@]host:port/db?timeout=…&prefix=…``; a
        ``rediss://`` URI may also name ``ssl_ca_certs``, ``ssl_certfile`` and
        ``ssl_keyfile`` (PEM files)."""
        options = parse_uri(uri, what="redis:// storage URI", prefix=DEFAULT_PREFIX,
                            timeout=DEFAULT_TIMEOUT)
        return cls(options.uri, prefix=options.prefix, timeout=options.timeout,
                   tls=options.tls)

    def bind(self, tiers: Sequence[TierSpec]) -> RedisBinding:
        """Bind *tiers* to key names under :attr:`prefix`."""
        return RedisBinding(self, tiers)

    async def run(self, main: str, keys: list[str], args: list[Any]) -> list[Any]:
        """Run script *main* with EVALSHA, loading it first if the server does not have it
        (a restarted Redis has forgotten every script)."""
        return await self._connection.run(_script(main), keys, args)

    async def call(self, command: str, *args: Any) -> Any:
        """Run one plain client command, e.g. ``call("delete", key)``."""
        return await self._connection.call(command, *args)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._connection.aclose()
