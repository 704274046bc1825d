"""The rate-limit algorithms: pure math over a per-key state, one module per algorithm.

====================  ===============================  ==========================================
algorithm             "burst" means                    most admitted in any ``w`` seconds
====================  ===============================  ==========================================
TokenBucket           bucket capacity                  ``burst + rate * w``
GCRA                  units back to back               ``burst + rate * w``
LeakyBucketMeter      bucket capacity                  ``capacity + rate * w``
LeakyBucketShaper     none at the output (queue size)  ``rate * w + capacity + max_cost``
FixedWindow           ``limit`` at a window's start    ``limit * (ceil(w / window) + 1)``
SlidingWindowLog      ``limit`` after a quiet window   ``limit * ceil(w / window)``
SlidingWindowCounter  ``limit`` after a quiet window   ``limit * (1 + w / window)`` (w <= window)
====================  ===============================  ==========================================

:meth:`Algorithm.max_admitted` returns exactly these bounds; the property tests hold every
algorithm to them.
"""

from ._base import Algorithm, State
from ._fixed_window import FixedWindow
from ._gcra import GCRA
from ._leaky_meter import LeakyBucketMeter
from ._leaky_shaper import LeakyBucketShaper
from ._sliding_counter import SlidingWindowCounter
from ._sliding_log import SlidingWindowLog
from ._token_bucket import TokenBucket

__all__ = [
    "GCRA",
    "Algorithm",
    "FixedWindow",
    "LeakyBucketMeter",
    "LeakyBucketShaper",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "State",
    "TokenBucket",
]
