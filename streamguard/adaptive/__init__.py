"""The self-healing loop: concurrency limits learned from latency and drops, and shedding.

* :class:`AdaptiveLimit` (:class:`AIMD`, :class:`Vegas`): pass it as ``concurrency=`` to
  ``map_async``, ``sink`` or ``guarded_sink``; the stage times every call and feeds the
  limit, and workers and demand follow the limit, so a slower downstream slows the source.
* :func:`shed`: under a standing queue (CoDel's test on the oldest waiting item), the
  lowest priorities are shed first — routed to ``on_reject`` and counted, never silently.
"""

from ._limit import AIMD, AdaptiveLimit, AdaptiveStatistics, LimitChanged, Sample, Vegas
from ._shed import ShedReason, shed

__all__ = ["AIMD", "AdaptiveLimit", "AdaptiveStatistics", "LimitChanged", "Sample", "ShedReason",
           "Vegas", "shed"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
