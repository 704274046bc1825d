"""A long-running Kafka consumer to copy: orders topic → per-user rate limit → breaker-guarded
HTTP call → dead-letter topic.

    streamguard run examples/kafka_orders_http.py --bootstrap HOST:PORT

Settings come from the environment (defaults in brackets): ``ORDERS_URL``
[http://127.0.0.1:8080/orders], ``ORDERS_TOPIC`` [orders], ``ORDERS_GROUP`` [orders-http],
``ORDERS_DEAD_LETTER_TOPIC`` [orders.dlq], ``ORDERS_PER_USER_RATE`` [50 per second].

What each piece does:

* **KafkaSource** reads the topic as JSON, at least once: a record's offset is committed only
  after the HTTP service accepted it (or it went to the dead-letter topic).
* **rate_limit** keeps each user to ``ORDERS_PER_USER_RATE`` calls per second; a user over
  the limit waits (``"shape"``), the others go on.
* **guarded_sink** POSTs each order with a timeout, retries transient failures (5xx, 429,
  connection errors) within a retry budget, and stops calling through a circuit breaker while
  the service is down — demand stops and the source pauses its partitions instead of piling
  up retries. An order the service refuses for good (another 4xx) is not retried.
* **source.dead_letter** writes such orders, byte for byte with their headers, to the
  dead-letter topic, and the offset moves past them only once the broker has them.

Stopping: Ctrl-C (or SIGTERM) under ``streamguard run`` drains — no new records are taken,
the calls under way finish, what completed is committed and the consumer leaves its group —
so a restart re-sends nothing the service already accepted. After a crash (kill -9) nothing
is lost: the records after the last commit are read again; the ``Idempotency-Key`` header
(topic-partition-offset) lets the service recognise the few it has seen.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp

from streamguard import Stream
from streamguard.breaker import BreakerConfig, CircuitBreaker
from streamguard.guard import guarded_sink
from streamguard.kafka import KafkaRecord, KafkaSource, KafkaSourceConfig
from streamguard.ratelimit import RateLimiter, TokenBucket, rate_limit
from streamguard.retry import RetryConfig

Order = KafkaRecord[dict[str, Any]]


class OrderRefused(Exception):
    """The service refused the order itself (a 4xx other than 429): retrying cannot help."""

    retryable = False


class OrdersService:
    """The downstream HTTP API: ``POST url`` with the order as JSON. One connection pool for
    the whole run, opened on the first call and closed by :meth:`aclose`."""

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def post(self, order: Order) -> None:
        """Deliver one order; raise if the service did not accept it."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        key = f"{order.topic}-{order.partition}-{order.offset}"
        async with self._session.post(self.url, json=order.value,
                                      headers={"Idempotency-Key": key}) as response:
            if response.status < 300:
                return
            text = (await response.text())[:200]
            if response.status == 429 or response.status >= 500:
                raise ConnectionError(f"{self.url} answered {response.status}: {text}")
            raise OrderRefused(f"{self.url} refused order {key} ({response.status}): {text}")

    async def aclose(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def user_of(order: Order) -> str:
    """The rate limit's key: the user who placed the order."""
    return str(order.value["user"])


def orders_pipeline(
    *, bootstrap: str, url: str, topic: str = "orders", group: str = "orders-http",
    dead_letter_topic: str = "orders.dlq", per_user_rate: float = 50.0,
) -> tuple[Stream[Any], OrdersService]:
    """The pipeline and the HTTP client it calls (close the client when the pipeline ends)."""
    source: KafkaSource[dict[str, Any]] = KafkaSource(KafkaSourceConfig(
        bootstrap_servers=bootstrap, topics=(topic,), group_id=group,
        dead_letter_topic=dead_letter_topic,
    ), codec="json", name="orders")
    service = OrdersService(url)
    per_user = RateLimiter("per-user", TokenBucket(rate=per_user_rate,
                                                   burst=max(1, int(per_user_rate / 5))))
    breaker = CircuitBreaker("orders-api", BreakerConfig(
        window_size=20, minimum_calls=10, failure_rate_threshold=0.5, open_duration=2.0))
    stream = source.stream().pipe(
        rate_limit(per_user, key=user_of, name="per-user"),
        guarded_sink(service.post, breaker=breaker, timeout=5.0, concurrency=16,
                     retry=RetryConfig(attempts=4, base_delay=0.1, max_delay=2.0),
                     dead_letter=source.dead_letter, name="orders-api"),
    )
    return stream, service


async def main(bootstrap: str = "127.0.0.1:9092") -> Any:
    """Run until stopped (``streamguard run`` drains it on Ctrl-C)."""
    env = os.environ.get
    stream, service = orders_pipeline(
        bootstrap=bootstrap, url=env("ORDERS_URL", "http://127.0.0.1:8080/orders"),
        topic=env("ORDERS_TOPIC", "orders"), group=env("ORDERS_GROUP", "orders-http"),
        dead_letter_topic=env("ORDERS_DEAD_LETTER_TOPIC", "orders.dlq"),
        per_user_rate=float(env("ORDERS_PER_USER_RATE", "50")),
    )
    try:
        return await stream.run(name="orders")
    finally:
        await service.aclose()
