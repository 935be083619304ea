#!/usr/bin/env bash
# Runs every test (unit tests and real-FUSE integration tests), after installing what they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
exec mvn -B -ntp test "$@"
