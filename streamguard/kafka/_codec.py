"""Codecs: how record values are decoded for the pipeline and encoded again.

A codec has ``decode(bytes) -> V`` and ``encode(V) -> bytes``. The source decodes every value
with it; the dead-letter route and the sink encode with it. Built in: :data:`BYTES` (no-op),
:data:`STR` (UTF-8) and :data:`JSON` (orjson). A plain function ``bytes -> V`` also works as a
codec for decoding (:func:`codec_of` wraps it).

The source decodes values itself (not in aiokafka's deserializer), so that every record keeps
its original bytes for the dead-letter topic. A value that fails to decode does not stop the
consumer: the source sends the record, with its original bytes, to the dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import orjson

from streamguard.core._errors import ConfigError

V = TypeVar("V")


class Codec(Protocol[V]):
    """Turns value bytes into ``V`` and back."""

    @property
    def name(self) -> str:
        """A short name for messages (``"json"``)."""
        ...

    def decode(self, data: bytes) -> V:
        """Decode *data*; raise on malformed input."""
        ...

    def encode(self, value: V) -> bytes:
        """Encode *value*."""
        ...


@dataclass(frozen=True, slots=True)
class FunctionCodec(Generic[V]):
    """A codec made of two functions; *encode* defaults to a best effort (bytes, str, JSON)."""

    name: str
    decoder: Callable[[bytes], V]
    encoder: Callable[[V], bytes] | None = None

    def decode(self, data: bytes) -> V:
        """Apply the decoder."""
        return self.decoder(data)

    def encode(self, value: V) -> bytes:
        """Apply the encoder, or encode bytes/str/JSON-able values."""
        if self.encoder is not None:
            return self.encoder(value)
        return best_effort_bytes(value)


def best_effort_bytes(value: object) -> bytes:
    """Bytes as they are, str as UTF-8, anything else as JSON (``str()`` for the unknown)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode()
    return orjson.dumps(value, default=str)


def _identity(data: bytes) -> bytes:
    return data


def _utf8(data: bytes) -> str:
    return data.decode("utf-8")


def _utf8_encode(value: str) -> bytes:
    return value.encode("utf-8")


def _json_encode(value: Any) -> bytes:
    return orjson.dumps(value)


BYTES: FunctionCodec[bytes] = FunctionCodec("bytes", _identity, _identity)
"""Values stay bytes (no call per record)."""

STR: FunctionCodec[str] = FunctionCodec("str", _utf8, _utf8_encode)
"""Values are UTF-8 text."""

JSON: FunctionCodec[Any] = FunctionCodec("json", orjson.loads, _json_encode)
"""Values are JSON documents, parsed with orjson."""

_NAMED: dict[str, FunctionCodec[Any]] = {"bytes": BYTES, "str": STR, "json": JSON}


def codec_of(spec: str | Codec[V] | Callable[[bytes], V]) -> Codec[Any]:
    """Resolve ``"bytes"``, ``"str"``, ``"json"``, a codec object or a decode function."""
    if isinstance(spec, str):
        try:
            return _NAMED[spec]
        except KeyError:
            raise ConfigError(
                f"codec must be 'bytes', 'str', 'json', a Codec or a function bytes -> value, "
                f"got {spec!r}"
            ) from None
    if hasattr(spec, "decode") and hasattr(spec, "encode"):
        return spec  # type: ignore[return-value]
    if callable(spec):
        return FunctionCodec(getattr(spec, "__name__", "custom"), spec)
    raise ConfigError(
        f"codec must be 'bytes', 'str', 'json', a Codec or a function bytes -> value, got {spec!r}"
    )


class Undecodable:
    """Stands in for a value that failed to decode: the original bytes and the error."""

    __slots__ = ("error", "raw")

    def __init__(self, raw: bytes, error: Exception) -> None:
        self.raw = raw
        self.error = error

    def __repr__(self) -> str:
        return f"Undecodable({self.raw[:40]!r}, {type(self.error).__name__}: {self.error})"


def batch_decoder(codec: Codec[Any]) -> Callable[[list[Any]], bool] | None:
    """A function that decodes the values of a fetched batch in place and returns whether
    any failed (``None`` for :data:`BYTES`: values stay as they are, nothing is paid).

    Each decoded record keeps its original bytes in ``raw_value`` (for the dead-letter topic);
    a value that fails to decode becomes :class:`Undecodable`; a null value (a tombstone) is
    never passed to the codec and stays ``None``.
    """
    if isinstance(codec, FunctionCodec) and codec.decoder is _identity:
        return None
    # A FunctionCodec's decoder is called directly (orjson.loads for "json"): one Python
    # call less per record.
    decode = codec.decoder if isinstance(codec, FunctionCodec) else codec.decode

    def decode_batch(records: list[Any]) -> bool:
        poisoned = False
        for record in records:
            raw = record.value
            record.raw_value = raw
            if raw is None:
                continue
            try:
                record.value = decode(raw)
            except Exception as exc:
                record.value = Undecodable(raw, exc)
                poisoned = True
        return poisoned

    return decode_batch
