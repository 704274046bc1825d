"""The old home of the server launchers, kept while the other branches move their imports to
:mod:`streamguard.servers` (issue #10); it will be removed once nothing imports it."""

from ..servers import *  # noqa: F403
from ..servers import __all__ as __all__
