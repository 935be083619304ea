#!/usr/bin/env bash
# Does a snapshot of a mounted view hold every write that returned before it began, while a writer goes
# on? A writer rewrites random 4 KiB pages of a 256 MiB file in the view without pause or fsync (the
# kernel holds thousands of them dirty, and keeps more than max_background WRITEs queued); ROUNDS
# snapshots are taken 0.5 s apart, each after reading how many writes had returned; then each
# snapshot is mounted and checked page by page (snapshot-race.py). Prints "missing=N" per snapshot.
# Usage: bash bench-scripts/tools/snapshot-race.sh JAR [ROUNDS]   (AGENT=1: through the cowfs agent,
# so that the snapshot starts within milliseconds, as a CI system's would). Throwaway store in /tmp.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export COWFS_JAR=$(readlink -f "$1")
ROUNDS=${2:-6}
[[ ${AGENT:-0} == 1 ]] || export COWFS_NO_AGENT=1
C=$here/../../cowfs
W=$(mktemp -d /tmp/snapshot-race.XXXXXX)
export COWFS_STORE=$W/store
cleanup() {
  [[ -n ${w:-} ]] && kill "$w" 2>/dev/null; wait 2>/dev/null || true
  for m in "$W/mp" "$W/sm"; do mountpoint -q "$m" && "$C" umount "$m" >/dev/null; done
  rm -rf "$W"
}
trap cleanup EXIT
mkdir -p "$W/src" "$W/mp" "$W/sm"; echo x > "$W/src/x"
"$C" init >/dev/null; "$C" import "$W/src" --name base >/dev/null; "$C" fork base --name v >/dev/null
"$C" mount v "$W/mp" >/dev/null
python3 "$here/snapshot-race.py" write "$W/mp/f" "$W/counter" & w=$!
sleep 2
for r in $(seq 1 "$ROUNDS"); do
  L[r]=$(python3 -c "import struct,sys;print(struct.unpack('<Q',open(sys.argv[1],'rb').read(8))[0])" "$W/counter")
  "$C" snapshot v --name "s$r" >/dev/null || echo "snapshot $r failed"
  sleep 0.5
done
kill "$w"; wait "$w" 2>/dev/null || true; w=
"$C" umount "$W/mp" >/dev/null
for r in $(seq 1 "$ROUNDS"); do
  "$C" mount "s$r" "$W/sm" >/dev/null
  python3 "$here/snapshot-race.py" check "$W/sm/f" "${L[r]}"
  "$C" umount "$W/sm" >/dev/null
done
