"""Small shared types of the Kafka adapter.

:class:`TopicPartition` *is* aiokafka's named tuple at run time (so no conversion is ever
needed on the hot path); for the type checker it is declared here, since aiokafka ships no
type information.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple, Protocol, TypeVar

V_co = TypeVar("V_co", covariant=True)

if TYPE_CHECKING:

    class TopicPartition(NamedTuple):
        """A topic and one of its partitions."""

        topic: str
        partition: int

else:
    from aiokafka.structs import TopicPartition

TP = TopicPartition


class KafkaRecord(Protocol[V_co]):
    """A consumed record: where it came from, its key, headers, timestamp and decoded value.

    The objects are aiokafka's ``ConsumerRecord`` (no copy is made per record); treat them
    as read-only.
    """

    @property
    def topic(self) -> str:
        """The topic the record was read from."""
        ...

    @property
    def partition(self) -> int:
        """The partition the record was read from."""
        ...

    @property
    def offset(self) -> int:
        """The record's offset in its partition."""
        ...

    @property
    def key(self) -> bytes | None:
        """The record's key, undecoded (``None`` if it has none)."""
        ...

    @property
    def value(self) -> V_co:
        """The record's value, decoded by the source's codec."""
        ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]:
        """The record's headers, in order."""
        ...

    @property
    def timestamp(self) -> int:
        """The record's timestamp in milliseconds since the epoch."""
        ...

    @property
    def timestamp_type(self) -> int:
        """0: set by the producer (CreateTime), 1: by the broker (LogAppendTime)."""
        ...

    @property
    def serialized_value_size(self) -> int:
        """Size of the value as stored, in bytes (-1 for a null value)."""
        ...
