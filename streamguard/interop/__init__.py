"""Bridges between streamguard streams and reactivex Observables, both ways."""

from ._rx import from_observable, to_observable

__all__ = ["from_observable", "to_observable"]
