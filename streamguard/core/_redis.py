"""One connection to Redis for every pattern whose state Redis shares across processes.

The rate limiter's storage and the circuit breaker's shared state both keep their state in
Redis, decided by Lua scripts on the server's clock. What they have in common lives here, once:
reading a ``redis[s]://[user:password@]host:port/db?timeout=…&prefix=…`` URI (TLS files for
``rediss://``), the lazily made ``redis.asyncio`` client with no client-side retries (a failure
is reported at once so the caller applies its own failure mode), running a script by EVALSHA
(loading it again after a Redis restart) and turning every connection failure into the
caller's "unavailable" error. URIs are shown without their user and password.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from ._errors import require

TLS_KEYS = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
"""Query keys of a ``rediss://`` URI naming PEM files."""


def import_redis() -> Any:
    """The ``redis`` package, or an ImportError that says which extra installs it."""
    try:
        import redis.asyncio
        import redis.asyncio.retry
        import redis.backoff
        import redis.exceptions
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ImportError(
            "Redis state needs the redis package: pip install 'streamguard[redis]'"
        ) from exc
    return redis


@dataclass(frozen=True, slots=True)
class Script:
    """A Lua script run by EVALSHA; *source* is its full text."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        digest = hashlib.sha1(self.source.encode(), usedforsecurity=False).hexdigest()
        object.__setattr__(self, "sha", digest)


@dataclass(frozen=True, slots=True)
class RedisOptions:
    """What a ``redis[s]://`` URI's query says: key prefix, timeout and TLS files."""

    uri: str
    prefix: str
    timeout: float
    tls: dict[str, str]


def parse_uri(uri: str, *, what: str, prefix: str, timeout: float) -> RedisOptions:
    """Read ``redis[s]://[user:password@]host:port/db?timeout=…&prefix=…`` (and, for
    ``rediss://``, ``ssl_ca_certs``, ``ssl_certfile``, ``ssl_keyfile``); *what* names the URI
    in errors (``"redis:// storage URI"``), *prefix* and *timeout* are the defaults."""
    require(isinstance(uri, str), f"{what} must be a str", uri)
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    # Messages show the URI without its user and password.
    host = f"{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")
    shown = uri if parts.username is None and parts.password is None else \
        urlunsplit(parts._replace(netloc=host))
    require(parts.scheme in ("redis", "rediss"),
            f"{what} must start with redis:// or rediss://", shown)
    unknown = sorted(set(query) - {"timeout", "prefix", *TLS_KEYS})
    require(not unknown, f"{what} takes only timeout, prefix and (rediss://) "
            f"{', '.join(TLS_KEYS)} (in {shown!r})", unknown)
    chosen_prefix = query.get("prefix", [prefix])[-1]
    raw = query.get("timeout", [str(timeout)])[-1]
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    require(seconds > 0, f"timeout must be a number of seconds > 0 (in {shown!r})", raw)
    base = urlunsplit(parts._replace(query=urlencode({})))
    tls = {key: query[key][-1] for key in TLS_KEYS if key in query}
    return RedisOptions(base, chosen_prefix, seconds, tls)


class RedisConnection:
    """A lazily made ``redis.asyncio`` client and the scripts it runs.

    Every connection failure or timeout is raised as *unavailable* (the caller's own
    "storage is down" error), with the cause but never the password in its message.

    Args:
        uri: ``redis://`` or ``rediss://`` with host, port and db (no query).
        timeout: bounds connecting and each call, in seconds.
        tls: ``ssl_ca_certs`` / ``ssl_certfile`` / ``ssl_keyfile`` (rediss:// only).
        unavailable: the exception class raised when Redis cannot answer.
        what: names the URI in configuration errors.
    """

    def __init__(self, uri: str, *, timeout: float, tls: Mapping[str, str] | None,
                 unavailable: type[Exception], what: str = "Redis storage URI") -> None:
        parts = urlsplit(uri)
        require(parts.scheme in ("redis", "rediss"),
                f"{what} must start with redis:// or rediss://", uri)
        require(timeout > 0, "timeout must be > 0", timeout)
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
        self._unavailable = unavailable
        self._client: Any = None

    def _ensure_client(self) -> Any:
        if self._client is None:
            redis = import_redis()
            self._client = redis.asyncio.Redis.from_url(
                self._connect_uri, **self._tls, socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                retry=redis.asyncio.retry.Retry(redis.backoff.NoBackoff(), 0),
            )
        return self._client

    async def run(self, script: Script, keys: list[str], args: list[Any]) -> list[Any]:
        """Run *script* with EVALSHA, loading it first if the server does not have it
        (a restarted Redis has forgotten every script)."""
        client = self._ensure_client()
        try:
            result: Any = await self._guarded(
                client.evalsha(script.sha, len(keys), *keys, *args))
        except import_redis().exceptions.NoScriptError:
            await self._guarded(client.script_load(script.source))
            result = await self._guarded(client.evalsha(script.sha, len(keys), *keys, *args))
        return list(result) if isinstance(result, list) else [result]

    async def call(self, command: str, *args: Any) -> Any:
        """Run one plain client command, e.g. ``call("delete", key)``."""
        client = self._ensure_client()
        return await self._guarded(getattr(client, command)(*args))

    async def _guarded(self, awaitable: Any) -> Any:
        redis = import_redis()
        try:
            return await awaitable
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                OSError) as exc:
            raise self._unavailable(f"{type(exc).__name__}: {exc}") from exc

    async def aclose(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
