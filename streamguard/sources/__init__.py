"""Sources: where a pipeline's items come from. All of them honour demand."""

from ._async_iterable import from_async_iterable
from ._emitter import Emitter
from ._iterable import from_iterable

__all__ = ["Emitter", "from_async_iterable", "from_iterable"]

from ..core._public import publish as _publish

_publish(__name__, globals(), __all__)
