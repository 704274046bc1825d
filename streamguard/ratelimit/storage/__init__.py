"""Where limiter state lives, chosen by URI: ``memory://`` (this process, the default) or
``redis://host:port/db`` (shared by every process that points at it).

Example::

    storage = storage_from_uri("redis://127.0.0.1:6379/0?timeout=0.25")
"""

from __future__ import annotations

from urllib.parse import urlsplit as _urlsplit

from streamguard.core._errors import ConfigError as _ConfigError
from streamguard.core._public import publish as _publish

from ._base import Storage, StorageUnavailable
from ._memory import MemoryStorage
from ._redis import RedisStorage

_SCHEMES = ("memory", "redis", "rediss")


def storage_from_uri(uri: str) -> Storage:
    """Build the storage named by *uri*; an unknown scheme is a :class:`ConfigError`."""
    scheme = _urlsplit(uri).scheme if isinstance(uri, str) else ""
    if scheme == "memory":
        return MemoryStorage.from_uri(uri)
    if scheme in ("redis", "rediss"):
        return RedisStorage.from_uri(uri)
    raise _ConfigError(
        f"storage URI must start with memory://, redis:// or rediss://, got {uri!r}"
    )


__all__ = [
    "MemoryStorage",
    "RedisStorage",
    "Storage",
    "StorageUnavailable",
    "storage_from_uri",
]

_publish(__name__, globals(), __all__)
