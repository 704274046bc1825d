"""Parse the Prometheus text exposition into ``{(name, labels): value}`` for assertions."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, frozenset[tuple[str, str]]]


def parse(text: bytes | str) -> dict[Key, float]:
    """Every sample of an exposition, keyed by sample name and label set."""
    if isinstance(text, bytes):
        text = text.decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict[Key, float], name: str, **labels: str) -> float | None:
    """The value of one sample, or None when absent."""
    return samples.get((name, frozenset(labels.items())))


def series(samples: dict[Key, float], name: str) -> dict[frozenset[tuple[str, str]], float]:
    """All samples of one name."""
    return {labels: v for (n, labels), v in samples.items() if n == name}
