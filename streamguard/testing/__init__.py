"""Test helpers that ship with streamguard (as aiostream ships its own): a virtual clock, a
recording subscriber, a completion ledger and a demand checker. Real servers for
integration tests, the demo and the CLI live in :mod:`streamguard.servers`."""

from ._acks import AckRecorder, RecordedAck
from ._checks import DemandViolation, check_demand
from ._clock import VirtualClock, VirtualTimer
from ._subscriber import TestSubscriber

__all__ = [
    "AckRecorder",
    "DemandViolation",
    "RecordedAck",
    "TestSubscriber",
    "VirtualClock",
    "VirtualTimer",
    "check_demand",
]

from ..core._public import publish as _publish

_publish(__name__, globals(), __all__)
