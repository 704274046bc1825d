"""Suite-wide settings: asyncio debug mode on for every test's event loop."""

from __future__ import annotations

import os

# Read by every new event loop (asyncio.coroutines._is_debug_mode), so each test's loop runs
# in debug mode: never-awaited coroutines and slow callbacks are reported.
os.environ.setdefault("PYTHONASYNCIODEBUG", "1")
