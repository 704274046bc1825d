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

import hashlib
from collections.abc import Hashable, Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from streamguard.core._errors import require

from .._decision import Decision
from ..algorithms._base import new_decision
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
def _sha(main: str) -> str:
    return hashlib.sha1(script_source(main).encode(), usedforsecurity=False).hexdigest()


def _import_redis() -> Any:
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.exceptions
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "redis:// storage needs the redis package: pip install 'streamguard[redis]'"
        ) from exc
    return redis


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


_TLS_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")


class RedisStorage(Storage):
    """Limiter state in Redis (``redis.asyncio``), shared across processes.

    The client is created lazily on first use, in the running event loop.
    """

    def __init__(self, uri: str, *, prefix: str = DEFAULT_PREFIX,
                 timeout: float = DEFAULT_TIMEOUT, tls: Mapping[str, str] | None = None) -> None:
        parts = urlsplit(uri)
        require(parts.scheme in ("redis", "rediss"), "Redis storage URI must start with "
                "redis:// or rediss://", uri)
        require(timeout > 0, "timeout must be > 0", timeout)
        self.prefix = prefix
        self.timeout = timeout
        netloc = parts.hostname or "127.0.0.1"
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        self.uri = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
        self._connect_uri = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        self._tls = dict(tls or {})
        require(not self._tls or parts.scheme == "rediss",
                "TLS options (ssl_ca_certs, ssl_certfile, ssl_keyfile) need a rediss:// URI",
                self.uri)
        for key, path in self._tls.items():
            require(Path(path).is_file(), f"{key} must name an existing file", path)
        self._client: Any = None

    @classmethod
    def from_uri(cls, uri: str) -> RedisStorage:
        """Build from ``redis[s]://[user:password@]host:port/db?timeout=…&prefix=…``; a
        ``rediss://`` URI may also name ``ssl_ca_certs``, ``ssl_certfile`` and
        ``ssl_keyfile`` (PEM files)."""
        parts = urlsplit(uri)
        query = parse_qs(parts.query)
        # Messages show the URI without its user and password.
        host = f"{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
        shown = urlunsplit(parts._replace(netloc=host))
        unknown = sorted(set(query) - {"timeout", "prefix", *_TLS_KEYS})
        require(not unknown, f"redis:// storage URI takes only timeout, prefix and (rediss://) "
                f"{', '.join(_TLS_KEYS)} (in {shown!r})", unknown)
        prefix = query.get("prefix", [DEFAULT_PREFIX])[-1]
        raw = query.get("timeout", [str(DEFAULT_TIMEOUT)])[-1]
        try:
            timeout = float(raw)
        except ValueError:
            timeout = -1.0
        require(timeout > 0, f"timeout must be a number of seconds > 0 (in {shown!r})", raw)
        base = urlunsplit(urlsplit(uri)._replace(query=urlencode({})))
        tls = {key: query[key][-1] for key in _TLS_KEYS if key in query}
        return cls(base, prefix=prefix, timeout=timeout, tls=tls)

    def bind(self, tiers: Sequence[TierSpec]) -> RedisBinding:
        """Bind *tiers* to key names under :attr:`prefix`."""
        return RedisBinding(self, tiers)

    def _ensure_client(self) -> Any:
        if self._client is None:
            redis = _import_redis()
            self._client = redis.asyncio.Redis.from_url(
                self._connect_uri, **self._tls, socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
            )
        return self._client

    async def run(self, main: str, keys: list[str], args: list[Any]) -> list[Any]:
        """Run script *main* with EVALSHA, loading it first if the server does not have it
        (a restarted Redis has forgotten every script)."""
        client = self._ensure_client()
        sha = _sha(main)
        try:
            result: Any = await self._guarded(client.evalsha(sha, len(keys), *keys, *args))
        except _import_redis().exceptions.NoScriptError:
            await self._guarded(client.script_load(script_source(main)))
            result = await self._guarded(client.evalsha(sha, len(keys), *keys, *args))
        return list(result) if isinstance(result, list) else [result]

    async def call(self, command: str, *args: Any) -> Any:
        """Run one plain client command, e.g. ``call("delete", key)``."""
        client = self._ensure_client()
        return await self._guarded(getattr(client, command)(*args))

    async def _guarded(self, awaitable: Any) -> Any:
        redis = _import_redis()
        try:
            return await awaitable
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                OSError) as exc:
            raise StorageUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
