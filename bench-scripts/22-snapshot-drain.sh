#!/usr/bin/env bash
# Workload 22: what a snapshot of a mounted view waits for before it is taken (the mount's drain of the
# kernel's WRITEs, fusefs kernel.WriteDrain), idle and while a writer goes on. Per system (a cowfs view of
# `tree`; OLD_JAR=PATH adds that build's view, as 15-punch.sh): ROUNDS (default 20) rounds of "write a
# small file, then ask the mount to persist" with the view otherwise idle; then the same while a writer
# rewrites random 4 KiB pages of a 256 MiB file in the view without pause (no fsync: the kernel's
# write-back sends its WRITEs all the time). Timed: the mount's answer to its control socket's
# "persist" (what `cowfs snapshot` asks first: the drain and the persist, no JVM start), and the whole
# `cowfs snapshot` command (JVM start included). No peer: no overlay snapshots a live upper directory.
# Not in run-all.sh.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot tree "$DATA/tree"
ROUNDS=${ROUNDS:-20}
res_begin snapshot-drain "A mounted view's persist before a snapshot, idle and under a writer ($ROUNDS rounds each)"
read -r -a SYSTEMS <<< "${SYSTEMS:-${OLD_JAR:+cowold }cowview}"
declare -A LABEL=([cowold]="cowfs view, ${OLD_JAR:+${OLD_JAR##*/}}" [cowview]="**cowfs view, this build**")

# persist_ms SOCK: the mount's answer time to "persist", ms (prints "error ..." answers to stderr)
persist_ms() {
  /usr/bin/python3 - "$1" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
t = time.perf_counter()
s.sendall(b"persist\n")
a = s.makefile().readline().strip()
ms = (time.perf_counter() - t) * 1000
if a != "ok":
    print(a, file=sys.stderr)
print("%.2f" % ms)
PY
}
# the writer: random 4 KiB pages of a 256 MiB file, until killed
WRITER='
import os, random, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
os.ftruncate(fd, 256 << 20)
page = os.urandom(4096)
r = random.Random(7)
open(sys.argv[2], "w").close()
while True:
    os.pwrite(fd, page, r.randrange(65536) * 4096)
'
declare -A IDLE BUSY SNAP_IDLE SNAP_BUSY
for sys in "${SYSTEMS[@]}"; do
  jar=$COWFS_JAR; [[ $sys == cowold ]] && jar=$OLD_JAR
  VIEW=$(uname_ drain)
  cw fork tree --name "$VIEW" >/dev/null || { abnormal "snapshot-drain: fork failed"; continue; }
  MP=$MNT/drain
  with_jar "$jar" mount_cowfs "$VIEW" "$MP" || continue
  st=${CW_STORE:-$STORE}
  id=$(grep -l -xF "mountpoint=$MP" "$st"/run/view-*.mount | sed 's/.*view-\([0-9]*\)\.mount/\1/')
  SOCK=$st/run/v$id.sock
  for ((r = 1; r <= ROUNDS; r++)); do
    echo "round $r" > "$MP/idle-$r"
    IDLE[$sys]+="$(persist_ms "$SOCK") "
  done
  for ((r = 1; r <= 3; r++)); do
    echo "snap $r" > "$MP/snap-$r"
    t=$(now); with_jar "$jar" cw snapshot "$VIEW" --name "$VIEW-i$r" >/dev/null || abnormal "snapshot-drain: snapshot failed ($sys, idle)"
    SNAP_IDLE[$sys]+="$(since "$t") "
  done
  rm -f "$TMPW/writer-up"
  /usr/bin/python3 -c "$WRITER" "$MP/busy" "$TMPW/writer-up" & wpid=$!
  while [[ ! -e $TMPW/writer-up ]]; do sleep 0.05; done
  sleep 1
  for ((r = 1; r <= ROUNDS; r++)); do
    BUSY[$sys]+="$(persist_ms "$SOCK") "
    sleep 0.1
  done
  for ((r = 1; r <= 3; r++)); do
    t=$(now); with_jar "$jar" cw snapshot "$VIEW" --name "$VIEW-b$r" >/dev/null || abnormal "snapshot-drain: snapshot failed ($sys, busy)"
    SNAP_BUSY[$sys]+="$(since "$t") "
  done
  kill "$wpid"; wait "$wpid" 2>/dev/null
  umount_cowfs "$MP"
  log "snapshot-drain: $sys idle ${IDLE[$sys]}"
  log "snapshot-drain: $sys busy ${BUSY[$sys]}"
  for n in "$VIEW"-i{1..3} "$VIEW"-b{1..3} "$VIEW"; do cw rm "$n" >/dev/null 2>&1; done
done
p90() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{i=int(NR*0.9+0.5); if (i<1) i=1; print a[i]}'; }
th "system" "persist, idle: median / p90 / max (ms)" "persist under a writer: median / p90 / max (ms)" "cowfs snapshot, idle / under a writer: median of 3 (s)"
for sys in "${SYSTEMS[@]}"; do
  # shellcheck disable=SC2086
  tr_ "${LABEL[$sys]}" "$(median ${IDLE[$sys]}) / $(p90 ${IDLE[$sys]}) / $(printf '%s\n' ${IDLE[$sys]} | sort -g | tail -1)" \
      "$(median ${BUSY[$sys]}) / $(p90 ${BUSY[$sys]}) / $(printf '%s\n' ${BUSY[$sys]} | sort -g | tail -1)" \
      "$(median ${SNAP_IDLE[$sys]}) / $(median ${SNAP_BUSY[$sys]})"
  # shellcheck disable=SC2086
  metric "snapshot-drain.$sys.idle.median_ms" "$(median ${IDLE[$sys]})"
  # shellcheck disable=SC2086
  metric "snapshot-drain.$sys.busy.median_ms" "$(median ${BUSY[$sys]})"
done
note "Idle: a small file written, then the persist. Under a writer: random 4 KiB pwrites into a 256 MiB file of the view, no pause, no fsync; the persist must take every page written before it (the drain) and store it."
