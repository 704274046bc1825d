"""How ``streamguard run`` and ``streamguard lag`` reach a secured cluster.

``--command-config FILE`` takes a Kafka client properties file, the one Kafka's own tools
take with the same option; without it, ``STREAMGUARD_KAFKA_*`` environment variables are read
(see :meth:`~streamguard.kafka.KafkaConnection.from_env`). Either becomes one
:class:`~streamguard.kafka.KafkaConnection`, which the commands use for every client and
``run`` hands to the target as ``bootstrap``. ``--bootstrap`` overrides the servers named in
the file or the environment.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ._errors import CliError, ExitCode

ENV_PREFIX = "STREAMGUARD_KAFKA_"


def kafka_bootstrap(args: argparse.Namespace, default: str | None = None) -> Any:
    """The ``bootstrap`` the command uses: a plain ``host:port`` string, or a
    ``KafkaConnection`` when ``--command-config`` or ``STREAMGUARD_KAFKA_*`` says how to
    connect; *default* when nothing names the servers."""
    explicit: str | None = args.bootstrap
    path: str | None = getattr(args, "command_config", None)
    env = {k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIX)}
    if path is None and not env:
        return explicit or default
    from ..core._errors import ConfigError
    from ..kafka._connection import KafkaConnection, parse_properties

    try:
        if path is not None:
            with open(path, encoding="utf-8") as file:
                props = parse_properties(file.read())
            servers = explicit or (None if "bootstrap.servers" in props else default)
            return KafkaConnection.from_mapping(props, bootstrap_servers=servers,
                                                origin=f"--command-config {path!r}")
        servers = explicit or env.get(f"{ENV_PREFIX}BOOTSTRAP_SERVERS") or default
        return KafkaConnection.from_env(bootstrap_servers=servers)
    except OSError as exc:
        raise CliError(f"--command-config: cannot read {path!r} ({exc.strerror})",
                       code=ExitCode.USAGE) from None
    except ConfigError as exc:
        raise CliError(str(exc), code=ExitCode.USAGE,
                       hint="the keys are those of Kafka's client properties") from None
