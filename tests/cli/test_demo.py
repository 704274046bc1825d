"""`streamguard demo`: the summary's invariants, in memory and on the embedded Kafka broker,
and the guardians' order as a Prometheus scraper sees it while the demo runs."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from streamguard.demo import KEYS
from tests.metrics._scrape import Key, parse, series

from ._runner import cli, spawn


def _check_invariants(summary: dict[str, Any]) -> None:
    assert set(KEYS) <= set(summary), set(KEYS) - set(summary)
    assert summary["lost"] == 0
    assert summary["items_in"] == (summary["items_out"] + summary["dead_lettered"]
                                   + summary["dropped"])
    assert summary["items_out"] > 0
    assert summary["limiter_delayed"] >= 1
    assert summary["breaker_trips"] >= 1


def test_demo_in_memory_json() -> None:
    result = cli("demo", "--source", "memory", "--items", "800", "--json")
    assert result.code == 0, result.stderr
    summary = json.loads(result.stdout)
    _check_invariants(summary)
    assert summary["source"] == "memory"
    assert summary["items_in"] == 800
    assert summary["dropped"] == 8  # every 100th order is a test order
    assert summary["partitions_paused"] == 0


def test_demo_text_summary_in_memory() -> None:
    result = cli("demo", "--source", "memory", "--items", "400")
    assert result.code == 0, result.stderr
    assert re.search(r"orders in 400: delivered [\d,]+, dead-lettered \d+, dropped by "
                     r"validation 4, lost 0", result.stdout)
    assert "circuit breaker: opened" in result.stdout
    assert "demo: a burst of 400 orders" in result.stderr
    assert "\x1b[" not in result.stdout + result.stderr


def test_demo_bad_option_is_a_usage_error() -> None:
    result = cli("demo", "--items", "0")
    assert result.code == 2
    assert "items must be an int >= 1, got 0" in result.stderr


def _total(samples: dict[Key, float], name: str, **labels: str) -> float:
    return sum(v for k, v in series(samples, name).items()
               if all((n, val) in k for n, val in labels.items()))


class _Scraper(threading.Thread):
    """Scrapes a URL every few milliseconds until stopped; keeps every snapshot."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.snapshots: list[dict[Key, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=5) as response:
                    self.snapshots.append(parse(response.read()))
            except (urllib.error.URLError, ConnectionError):
                return  # the demo ended and closed its endpoint
            time.sleep(0.02)


@pytest.mark.integration
def test_scraped_metrics_show_pause_breaker_and_resume_in_order() -> None:
    scraper: _Scraper | None = None
    with spawn("demo", "--metrics-port", "0", "--json") as proc:
        try:
            assert proc.stderr is not None
            line = proc.stderr.readline().strip()
            match = re.fullmatch(r"metrics: (http://127\.0\.0\.1:\d+/metrics)", line)
            assert match, line
            scraper = _Scraper(match.group(1))
            scraper.start()
            out, err = proc.communicate(timeout=120)
        finally:
            if scraper is not None:
                scraper.stop.set()
                scraper.join(timeout=10)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    snapshots = scraper.snapshots
    assert len(snapshots) > 20, "too few scrapes to see anything"

    def first(predicate: Any, after: int = -1) -> int:
        return next(i for i, s in enumerate(snapshots) if i > after and predicate(s))

    transitions = "streamguard_breaker_transitions_total"
    paused = "streamguard_kafka_partition_paused"
    opened = first(lambda s: _total(s, transitions, to_state="open") >= 1)
    # While the breaker is open the source pauses every partition (it stops asking upstream).
    all_paused = first(lambda s: _total(s, transitions, to_state="open") >= 1
                       and len(series(s, paused)) > 0
                       and all(v == 1 for v in series(s, paused).values()))
    closed = first(lambda s: _total(s, transitions, from_state="half_open",
                                    to_state="closed") >= 1)
    resumes = "streamguard_kafka_partition_resumes_total"
    resumed_after = first(lambda s: _total(s, resumes) > _total(snapshots[closed], resumes),
                          after=closed)
    assert opened <= all_paused < closed < resumed_after
    assert _total(snapshots[-1], "streamguard_breaker_state") == 0  # closed at the end
    # `streamguard demo --json`'s promises, on the embedded Kafka broker.
    _check_invariants(summary)
    assert summary["source"] == "kafka"
    assert summary["dead_lettered"] >= 12  # the malformed records went to the dead-letter topic
    assert summary["partitions_paused"] >= 1
    assert summary["partitions_resumed"] >= 1
    assert "embedded Tansu broker on 127.0.0.1:" in err


async def test_auto_falls_back_to_memory_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import streamguard.demo._run as run_module
    from streamguard.demo import DemoConfig, Ledger, run_demo

    monkeypatch.setattr(run_module, "kafka_available", lambda: False)
    said: list[str] = []
    ledger = Ledger()
    await run_demo(DemoConfig(items=300, outage=0.2), ledger, say=said.append)
    assert ledger.source == "memory"
    assert "Kafka is not available" in said[0]
    assert "pip install 'streamguard[demo]'" in said[0]
    counts = ledger.counts()
    assert counts["items_in"] == 300
    assert counts["lost"] == 0
    assert counts["items_out"] + counts["dead_lettered"] + counts["dropped"] == 300


@pytest.mark.integration
def test_ctrl_c_stops_the_kafka_demo_early_and_says_so() -> None:
    with spawn("demo", "--json") as proc:
        assert proc.stderr is not None
        assert "a burst of" in proc.stderr.readline() + proc.stderr.readline()
        time.sleep(0.5)  # the pipeline is consuming now
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    summary = json.loads(out)
    assert summary["outcome"] == "interrupted"
    assert summary["finished"] is False
    assert summary["items_in"] == (summary["items_out"] + summary["dead_lettered"]
                                   + summary["dropped"] + summary["lost"])
    assert "Traceback" not in err
