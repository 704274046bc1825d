"""A downstream with a known capacity, for tests and benchmarks of adaptive concurrency.

``DownstreamServer`` runs a small aiohttp application in a process of its own (so that it has a
core of its own, as a real downstream would): it serves at most ``capacity`` requests at once,
each taking ``service_time`` seconds; requests above the capacity wait in a FIFO queue, so their
latency grows with the queue, and a request that has waited ``deadline`` seconds is answered
``503 Service Unavailable``. ``set_capacity(n)`` changes the capacity while it runs.

    with DownstreamServer(DownstreamConfig(capacity=32, service_time=0.05)) as down:
        url = down.url                       # POST or GET url + "/work"
        down.set_capacity(8)
        down.stats()                         # {"served": …, "rejected": …, …}

Its answers: ``200`` after the service time; ``503`` past the deadline;
``GET /stats`` returns the counters as JSON; ``POST /capacity/N`` changes the capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ..core._errors import require
from ._process import ManagedServer, check_lifecycle, free_port


@dataclass(frozen=True, kw_only=True, slots=True)
class DownstreamConfig:
    """How the simulated downstream behaves.

    Attributes:
        capacity: requests served at once (32).
        service_time: seconds each request takes once served (0.05).
        deadline: seconds a request may wait before it is answered 503 (0.5).
        port: 0 picks a free port.
        start_timeout, stop_grace: life-cycle bounds in seconds (20, 5).
    """

    capacity: int = 32
    service_time: float = 0.05
    deadline: float = 0.5
    port: int = 0
    start_timeout: float = 20.0
    stop_grace: float = 5.0

    def __post_init__(self) -> None:
        require(isinstance(self.capacity, int) and not isinstance(self.capacity, bool)
                and self.capacity >= 1, "capacity must be an int >= 1", self.capacity)
        require(isinstance(self.service_time, int | float) and self.service_time > 0,
                "service_time must be a number > 0", self.service_time)
        require(isinstance(self.deadline, int | float) and self.deadline > 0,
                "deadline must be a number > 0", self.deadline)
        check_lifecycle(start_timeout=self.start_timeout, stop_grace=self.stop_grace,
                        port=self.port)


class DownstreamServer(ManagedServer):
    """The simulated downstream as a managed process (see the module docstring)."""

    what = "downstream"
    log_name = "downstream.log"
    folder_prefix = "streamguard-downstream-"

    def __init__(self, config: DownstreamConfig | None = None) -> None:
        self.config = DownstreamConfig() if config is None else config
        super().__init__(start_timeout=self.config.start_timeout,
                         stop_grace=self.config.stop_grace, port=self.config.port)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``; requests go to ``url + "/work"``."""
        return f"http://127.0.0.1:{self.port}"

    def set_capacity(self, capacity: int) -> None:
        """Change how many requests are served at once (waiting ones start at once if it grew);
        0 takes the downstream down: every request waits its deadline and is answered 503."""
        require(isinstance(capacity, int) and not isinstance(capacity, bool) and capacity >= 0,
                "capacity must be an int >= 0", capacity)
        request = urllib.request.Request(f"{self.url}/capacity/{capacity}", method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()

    def stats(self) -> dict[str, int]:
        """The downstream's counters: served, rejected, in_service, queued, capacity."""
        with urllib.request.urlopen(f"{self.url}/stats", timeout=5) as answer:
            data: dict[str, int] = json.loads(answer.read())
            return data

    def _command(self, folder: Path) -> list[str]:
        if self.port == 0:
            self.port = free_port()
        c = self.config
        return [sys.executable, "-m", "streamguard.servers._downstream", "--port", str(self.port),
                "--capacity", str(c.capacity), "--service-time", str(c.service_time),
                "--deadline", str(c.deadline)]

    def _answers(self) -> bool:
        try:
            self.stats()
        except OSError:
            return False
        return True


class _Gate:
    """A FIFO admission gate whose capacity can change while requests wait."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_service = 0
        self.waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def enter(self, deadline: float) -> bool:
        if self.in_service < self.capacity and not self.waiting:
            self.in_service += 1
            return True
        future = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        try:
            await asyncio.wait_for(asyncio.shield(future), deadline)
        except TimeoutError:
            if future.done():  # admitted just as the deadline passed
                return True
            self.waiting.remove(future)
            future.cancel()
            return False
        return True

    def leave(self) -> None:
        self.in_service -= 1
        self.admit()

    def admit(self) -> None:
        while self.waiting and self.in_service < self.capacity:
            future = self.waiting.popleft()
            if not future.done():
                self.in_service += 1
                future.set_result(None)


def _serve(port: int, capacity: int, service_time: float, deadline: float) -> None:
    from aiohttp import web

    gate = _Gate(capacity)
    counts = {"served": 0, "rejected": 0}

    async def work(_request: web.Request) -> web.Response:
        if not await gate.enter(deadline):
            counts["rejected"] += 1
            return web.Response(status=503, text="overloaded")
        try:
            await asyncio.sleep(service_time)
        finally:
            gate.leave()
        counts["served"] += 1
        return web.Response(text="ok")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({**counts, "in_service": gate.in_service,
                                  "queued": len(gate.waiting), "capacity": gate.capacity})

    async def set_capacity(request: web.Request) -> web.Response:
        gate.capacity = int(request.match_info["n"])
        gate.admit()
        return web.Response(text=str(gate.capacity))

    app = web.Application()
    app.add_routes([web.get("/work", work), web.post("/work", work), web.get("/stats", stats),
                    web.post("/capacity/{n}", set_capacity)])
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                backlog=4096)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(prog="streamguard.servers._downstream")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--capacity", type=int, required=True)
    parser.add_argument("--service-time", type=float, required=True)
    parser.add_argument("--deadline", type=float, required=True)
    args = parser.parse_args(argv)
    _serve(args.port, args.capacity, args.service_time, args.deadline)


if __name__ == "__main__":
    main()
