"""``python -m streamguard.cli``: the same as the ``streamguard`` console script."""

from ._app import main

raise SystemExit(main())
