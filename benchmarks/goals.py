"""The goals every benchmark ratio is held to, in one place, so that the README's performance
section (rendered by ``benchmarks/render.py``) shows each figure beside the goal it serves.

A goal is ``(op, bound)``: ``">="`` means the ratio must be at least *bound*, ``"<="`` at most.
Ratios without a goal are reported as context.
"""

from __future__ import annotations

from typing import Literal

Goal = tuple[Literal[">=", "<="], float]

GOALS: dict[str, dict[str, Goal]] = {
    "core": {
        "pipeline_vs_reactivex": (">=", 2.0),
        "pipeline_vs_queue_chain": (">=", 5.0),
        "pipeline_vs_aiostream": (">=", 15.0),
        "map_async_vs_worker_pool_c16": (">=", 0.8),
        "map_async_vs_worker_pool_c256": (">=", 0.8),
    },
    "ratelimit": {
        "fairness_others_share_hot30": (">=", 0.9),
        "fairness_others_share_hot90": (">=", 0.9),
        "shaper_rate_error_pct": ("<=", 1.0),
        "max_100ms_window_vs_aiolimiter_like": ("<=", 1.0),
        "sliding_log_vs_limits_moving_window": ("<=", 0.5),
        "fixed_window_vs_limits_fixed_window": ("<=", 0.5),
        "rate_error_pct": ("<=", 1.0),
        "max_100ms_window_vs_bound": ("<=", 1.0),
    },
    "breaker": {
        "storm_calls_vs_breaker_peer": ("<=", 1.0),
        "storm_delivered_vs_breaker_peer": (">=", 1.9),
        "storm_calls_vs_naive": ("<=", 0.01),
    },
    "guardians": {
        "guardians_vs_pool_peer": (">=", 3.0),
        "guardians_vs_bare_pool": (">=", 0.25),
        "rate_limit_unbound_vs_sink": (">=", 0.3),
    },
    "kafka": {
        "consume_vs_raw_aiokafka": (">=", 0.9),
        "consume_vs_quixstreams": (">=", 2.0),
        "consume_vs_faust": (">=", 10.0),
        "peak_rss_vs_naive": ("<=", 0.2),
    },
    "kafka_eos": {
        "exactly_once_vs_at_least_once": (">=", 0.5),
    },
    "kafka_keyed": {
        "key_ordered_vs_partition_ordered": (">=", 10.0),
    },
    "operators": {
        "merge_vs_aiostream": (">=", 5.0),
        "flat_map_vs_aiostream": (">=", 5.0),
        "group_by_vs_reactivex": (">=", 1.0),
        "window_vs_reactivex": (">=", 1.0),
    },
    "adaptive": {
        "adaptive_goodput_vs_capacity": (">=", 0.9),
        "adaptive_p99_vs_fixed256": ("<=", 0.3),
        "adaptive_converge_s": ("<=", 5.0),
        "adaptive_reconverge_s": ("<=", 5.0),
    },
    "shared_breaker": {
        "shared_breaker_failed_calls_vs_local": ("<=", 0.35),
    },
}


def met(op: str, bound: float, value: float) -> bool:
    """True when *value* satisfies the goal ``op bound``."""
    return value >= bound if op == ">=" else value <= bound
