"""Bridges between streamguard streams and reactivex Observables, both ways."""

from ._rx import from_observable, to_observable

__all__ = ["from_observable", "to_observable"]

from ..core._public import publish as _publish

_publish(__name__, globals(), __all__)
