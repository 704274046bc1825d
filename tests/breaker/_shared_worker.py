"""One process of the multi-process shared-breaker test:
``python -m tests.breaker._shared_worker ARGS_JSON``.

Joins the shared state, waits for the common start time, then calls a downstream that is down
(each call fails after ``call_s`` seconds) until its breaker refuses; then keeps asking for a
permit every 5 ms for ``probe_for`` seconds, failing every probe it is granted. Prints one JSON
line: failed calls before its breaker opened, its transitions, the wall-clock times of its
probes.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from streamguard.breaker import BreakerConfig, CircuitBreaker, State, StateTransition
from streamguard.core import EventBus


async def work(args: dict[str, Any]) -> dict[str, Any]:
    config = BreakerConfig(window_size=args["window"], minimum_calls=args["window"],
                           open_duration=args["open_s"])
    breaker = CircuitBreaker(args["name"], config, storage=args["url"], bus=EventBus())
    transitions: list[StateTransition] = []
    breaker.on_state_change(transitions.append)
    await breaker.sync()
    await asyncio.sleep(max(0.0, args["start"] - time.time()))
    failed = 0
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            permit = breaker.try_acquire()
            if permit is None:
                break
            await asyncio.sleep(args["call_s"])  # the downstream answers 503
            failed += 1
            breaker.on_failure(permit, ConnectionError("503 Service Unavailable"))
        probes: list[float] = []
        end = time.time() + args["probe_for"]
        while time.time() < end:
            permit = breaker.try_acquire()
            if permit is not None:
                probes.append(time.time())
                breaker.on_failure(permit, ConnectionError("503 Service Unavailable"))
            await asyncio.sleep(0.005)
        state = breaker.state
    finally:
        await breaker.aclose()
    return {"failed": failed, "state": state.value, "probes": probes,
            "transitions": [[e.from_state.value, e.to_state.value, e.reason]
                            for e in transitions],
            "opened": state in (State.OPEN, State.HALF_OPEN)}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(work(json.loads(sys.argv[1])))))
