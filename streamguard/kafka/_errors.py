"""The exceptions of the Kafka adapter.

::

    StreamGuardError
    ├── DeliveryError                     (streamguard.guard) the sink's producer could not
    │                                     deliver a record (one definition, shared)
    └── KafkaAdapterError                 base of everything the Kafka adapter raises
        ├── BrokerUnreachableError        no broker answered within connect_timeout
        ├── BrokerRefusedError            a broker answered but refused the connection (wrong
        │                                 password, untrusted certificate, TLS mismatch,
        │                                 a SASL mechanism it does not enable)
        ├── UnknownTopicError             a named topic does not exist on the broker
        ├── RecordFailedError             a record failed and could not be dead-lettered
        ├── DeadLetterError               a record could not be written to the dead-letter topic
        ├── IdempotenceUnsupportedError   the broker refused an idempotent producer
        └── TransactionsUnsupportedError  the broker refused a transactional producer
                                          (exactly-once needs Kafka transactions)

Bad options raise :class:`~streamguard.core.ConfigError` (also a ``ValueError``). Every
message names the object, the broker or topic, and says what to do.
"""

from __future__ import annotations

from streamguard.core._errors import StreamGuardError
from streamguard.guard import DeliveryError as DeliveryError  # one definition, re-exported


class KafkaAdapterError(StreamGuardError):
    """Base of every error of the Kafka adapter."""


class BrokerUnreachableError(KafkaAdapterError):
    """No broker of ``bootstrap_servers`` answered within ``connect_timeout``."""


class BrokerRefusedError(KafkaAdapterError):
    """A broker answered but refused the connection; the message names the cause (wrong
    credentials, an untrusted certificate, TLS spoken to a plaintext listener or the
    reverse, a SASL mechanism the listener does not enable). Retrying does not help."""


class UnknownTopicError(KafkaAdapterError):
    """A topic named in the configuration does not exist on the broker."""


class RecordFailedError(KafkaAdapterError):
    """A record failed in the pipeline and no dead-letter route took it.

    It was not committed, so it is delivered again after a restart.
    """


class DeadLetterError(KafkaAdapterError):
    """Writing a record to the dead-letter topic failed; the record was not committed."""


class IdempotenceUnsupportedError(KafkaAdapterError):
    """The broker refused to give an idempotent producer its id (InitProducerId)."""


class TransactionsUnsupportedError(KafkaAdapterError):
    """The broker refused a transactional producer (InitProducerId with a transactional id),
    so it cannot run an exactly-once pipeline; the message names the broker and what to use
    instead."""
