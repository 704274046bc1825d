#!/usr/bin/env bash
# The whole test suite, from a clean clone on a fresh machine: installs what the tests need
# (Python packages, Debian's redis-server, the Apache Kafka jars into a cache outside the repo),
# checks types and style, then runs pytest. The servers themselves (Redis, Apache Kafka, Tansu,
# an HTTP server) are started by pytest fixtures on free loopback ports and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
python -m pip install -q -e '.[kafka,redis,cli,broker,test,bench]'

if ! command -v redis-server >/dev/null 2>&1; then
    echo "test.sh: installing Debian's redis-server"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
fi

if [ -f scripts/fetch_kafka.sh ]; then
    bash scripts/fetch_kafka.sh
fi

echo "== ruff"; python -m ruff check streamguard tests benchmarks examples
echo "== mypy"; python -m mypy --strict
echo "== pytest"; python -m pytest -p no:cacheprovider "$@"
