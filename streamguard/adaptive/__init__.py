"""Adaptive concurrency: limits learned from latency and drops (AIMD, Vegas).

Pass an :class:`AdaptiveLimit` as ``concurrency=`` to ``map_async`` or ``guarded_sink``; the
stage times every call and feeds the limit, and demand follows the limit.
"""

from ._limit import AIMD, AdaptiveLimit, AdaptiveStatistics, LimitChanged, Sample, Vegas

__all__ = ["AIMD", "AdaptiveLimit", "AdaptiveStatistics", "LimitChanged", "Sample", "Vegas"]

for _name in __all__:
    globals()[_name].__module__ = __name__
del _name
