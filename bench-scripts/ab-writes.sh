#!/usr/bin/env bash
# Writes (04-writes.sh) of two cowfs builds in one run, on the same data:
#   bench-scripts/ab-writes.sh OLD.jar NEW.jar
# The new build runs with the peers (SYSTEMS, default "ovl fovl cowview"), then the old build's view
# alone; each build gets a fresh store (a new build's store format may differ). Tables go to
# $RESULTS/ab-writes-new/writes.md and $RESULTS/ab-writes-old/writes.md.
set -uo pipefail
OLD=$1; NEW=$2; shift 2
BS_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$BS_DIR/lib.sh"
R=$RESULTS
echo "load before: $(uptime)"
rm -rf "$STORE"
COWFS_JAR=$NEW SYSTEMS=${SYSTEMS:-ovl fovl cowview} RESULTS=$R/ab-writes-new bash "$BS_DIR/04-writes.sh" "$@"
echo "load between: $(uptime)"
rm -rf "$STORE"
COWFS_JAR=$OLD SYSTEMS=cowview RESULTS=$R/ab-writes-old bash "$BS_DIR/04-writes.sh" "$@"
echo "load after: $(uptime)"
rm -rf "$STORE"
