"""streamguard: reactive streams for asyncio that survive real load.

Three guardians in one loop: rate limiting at the edge, backpressure inside (demand flows
from the sink back to the source), and circuit breakers on every outbound call.

Example::

    import asyncio
    from streamguard import from_iterable, operators as op

    async def main() -> None:
        result = await from_iterable(range(1000)).pipe(
            op.map(lambda x: x * 2),
            op.filter(lambda x: x % 3 == 0),
            op.sink(print),
        ).run(name="hello")

    asyncio.run(main())
"""

import typing

from . import operators
from .core import (
    Ack,
    BufferOverflowError,
    ConfigError,
    DemandError,
    Draining,
    EventBus,
    ItemFailedError,
    OverflowPolicy,
    Pipeline,
    PipelineResult,
    StageStatistics,
    Stream,
    StreamClosedError,
    StreamGuardError,
    Subscriber,
    Subscription,
    WouldBlock,
    default_bus,
)
from .sources import Emitter, from_async_iterable, from_iterable

if typing.TYPE_CHECKING:
    from .interop import from_observable, to_observable

__version__ = "0.1.0"

__all__ = [
    "Ack",
    "BufferOverflowError",
    "ConfigError",
    "DemandError",
    "Draining",
    "Emitter",
    "EventBus",
    "ItemFailedError",
    "OverflowPolicy",
    "Pipeline",
    "PipelineResult",
    "StageStatistics",
    "Stream",
    "StreamClosedError",
    "StreamGuardError",
    "Subscriber",
    "Subscription",
    "WouldBlock",
    "__version__",
    "default_bus",
    "from_async_iterable",
    "from_iterable",
    "from_observable",
    "operators",
    "to_observable",
]


def __getattr__(name: str) -> typing.Any:
    # The Rx bridge imports reactivex (~2 MiB resident, ~20 ms): only programs that use it
    # pay for it, not every Kafka consumer (#11's memory goal).
    if name in ("from_observable", "to_observable"):
        from . import interop

        return getattr(interop, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
