"""A flaky HTTP downstream for the retry-storm test, run as its own process.

``python tests/guard/_storm_server.py OUTAGE_SECONDS`` binds a free 127.0.0.1 port, prints
``PORT <n>`` and serves:

* ``POST /start`` — the outage begins now and lasts OUTAGE_SECONDS;
* ``POST /deliver?id=N`` with header ``X-Client: <name>`` — 503 during the outage, else 200
  and item N is recorded as accepted for that client;
* ``GET /stats`` — per client: requests during the outage, requests after it, accepted ids.

Counting happens here, on the server's own clock, so the test compares what the downstream
really received from each client.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict
from typing import Any

from aiohttp import web


class Downstream:
    def __init__(self, outage: float) -> None:
        self.outage = outage
        self.outage_until: float | None = None
        self.during: defaultdict[str, int] = defaultdict(int)
        self.after: defaultdict[str, int] = defaultdict(int)
        self.accepted: defaultdict[str, list[int]] = defaultdict(list)

    async def start(self, request: web.Request) -> web.Response:
        self.outage_until = time.monotonic() + self.outage
        return web.json_response({"outage": self.outage})

    async def deliver(self, request: web.Request) -> web.Response:
        client = request.headers.get("X-Client", "unknown")
        failing = self.outage_until is not None and time.monotonic() < self.outage_until
        if failing:
            self.during[client] += 1
            return web.Response(status=503, text="outage")
        self.after[client] += 1
        self.accepted[client].append(int(request.query["id"]))
        return web.Response(text="ok")

    async def stats(self, request: web.Request) -> web.Response:
        clients = set(self.during) | set(self.after)
        body: dict[str, Any] = {
            c: {"during": self.during[c], "after": self.after[c], "accepted": self.accepted[c]}
            for c in clients
        }
        return web.json_response(body)


async def main(outage: float) -> None:
    downstream = Downstream(outage)
    app = web.Application()
    app.add_routes([web.post("/start", downstream.start), web.post("/deliver", downstream.deliver),
                    web.get("/stats", downstream.stats)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"PORT {port}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(float(sys.argv[1])))
