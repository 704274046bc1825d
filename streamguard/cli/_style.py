"""Colour for terminals only: never in pipes, never with ``NO_COLOR`` or ``TERM=dumb``."""

from __future__ import annotations

import os
from typing import TextIO

_SGR = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def colour_enabled(stream: TextIO) -> bool:
    """Whether *stream* is a terminal that wants colour (https://no-color.org)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def style(text: str, spec: str, stream: TextIO) -> str:
    """*text* wrapped in ANSI codes for *spec* (e.g. ``"bold red"``) when *stream* wants it."""
    if not colour_enabled(stream):
        return text
    codes = ";".join(_SGR[word] for word in spec.split() if word in _SGR)
    return f"\x1b[{codes}m{text}\x1b[0m" if codes else text
