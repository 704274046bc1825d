"""Lag arithmetic and codecs (no broker)."""

from __future__ import annotations

import pytest

from streamguard.core._errors import ConfigError
from streamguard.kafka._codec import (
    BYTES,
    JSON,
    STR,
    Undecodable,
    batch_decoder,
    codec_of,
)
from streamguard.kafka._lag import broker_lag, in_flight, log_end_estimate


def test_log_end_is_the_largest_lower_bound() -> None:
    # Tansu answers ListOffsets with the base offset of the last batch (892), the fetch
    # high-watermark is right (1003): the estimate must not be pulled down.
    assert log_end_estimate(1003, 892, None) == 1003
    assert log_end_estimate(None, None) is None
    assert log_end_estimate(-1, 5) == 5


def test_broker_lag_and_in_flight() -> None:
    assert broker_lag(1003, 1000) == 3
    assert broker_lag(None, 1000) is None
    assert broker_lag(1003, None) is None
    assert broker_lag(10, 12) == 0
    assert in_flight(120, 100) == 20
    assert in_flight(None, 100) == 0


class _Rec:
    def __init__(self, value: bytes | None) -> None:
        self.value: object = value


def test_batch_decoder_keeps_raw_bytes_and_sets_malformed_values_apart() -> None:
    decode = batch_decoder(JSON)
    assert decode is not None
    good, bad, tombstone = _Rec(b'{"amount": 1.10}'), _Rec(b"{not json"), _Rec(None)
    assert decode([good, bad, tombstone]) is True
    assert good.value == {"amount": 1.1}
    assert good.raw_value == b'{"amount": 1.10}'  # type: ignore[attr-defined]
    assert isinstance(bad.value, Undecodable)
    assert bad.value.raw == b"{not json"
    assert tombstone.value is None  # never passed to the codec
    assert decode([_Rec(b"[1]")]) is False
    assert batch_decoder(BYTES) is None


def test_codecs_resolve_by_name_object_or_function() -> None:
    assert codec_of("str") is STR
    assert STR.encode(STR.decode("é".encode())) == "é".encode()
    custom = codec_of(lambda b: int(b))
    assert custom.decode(b"42") == 42
    assert custom.encode(42) == b"42"
    with pytest.raises(ConfigError, match=r"codec must be 'bytes', 'str', 'json'.*got 'yaml'"):
        codec_of("yaml")
