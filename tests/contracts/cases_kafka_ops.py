"""Contract cases of the Kafka adapter's operators (kafka-ops): ``throttle_by_lag``.

The probe reports no lag and the rate is far above what a test feeds, so the throttle never
waits: what is checked is the stage's protocol and its acks, not its timing (that is tested
in virtual time in ``tests/kafka/test_throttle.py``).
"""

from __future__ import annotations

from streamguard.kafka import LagThrottleConfig, throttle_by_lag

from .registry import stage


async def _no_lag() -> int:
    return 0


stage("throttle_by_lag",
      lambda: throttle_by_lag(_no_lag, LagThrottleConfig(max_rate=1e9, threshold=100)),
      random=True)
