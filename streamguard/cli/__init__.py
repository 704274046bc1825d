"""The ``streamguard`` command line: ``demo``, ``run``, ``lag`` and ``broker``.

Installed as a console script (``streamguard``); also ``python -m streamguard.cli``. Every
user mistake ends as one line on stderr with a hint and a documented exit code
(:class:`ExitCode`); colour only on a terminal; summaries and tables on stdout, so they pipe.

Example::

    $ streamguard run examples/quickstart.py --duration 30 --metrics-port 9464
    $ streamguard lag --bootstrap 127.0.0.1:9092 --group orders --json
"""

from ..core._public import publish as _publish
from ._app import build_parser, main
from ._errors import CliError, ExitCode

__all__ = ["CliError", "ExitCode", "build_parser", "main"]

_publish(__name__, globals(), __all__)
