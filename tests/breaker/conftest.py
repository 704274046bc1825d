"""The shared-breaker tests use the suite's Redis fixtures (``redis_server``, ``redis_url``,
``own_redis``) from ``tests/conftest.py``."""
