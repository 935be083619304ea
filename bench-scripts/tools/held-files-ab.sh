#!/usr/bin/env bash
# Commits beside files with data waiting: a process holds N files open, each with 4 KiB written
# through O_DIRECT (so the bytes reach the mount and wait there for the files' close), and times
# 300 mkdirs meanwhile (each a commit in a view). Two builds alternating with fuse-overlayfs and
# the host's own filesystem, same script, ROUNDS rounds:
#   bench-scripts/tools/held-files-ab.sh OLD.jar NEW.jar [N] [ROUNDS]
# docs/PERFORMANCE.md (2026-12-04, the session-51 section).
set -euo pipefail
OLD=$(realpath "$1"); NEW=$(realpath "$2"); N=${3:-8000}; ROUNDS=${4:-3}
C=$(cd "$(dirname "$0")/../.." && pwd)/cowfs
W=$(mktemp -d /tmp/held-ab.XXXXXX)
export COWFS_STORE=$W/st
trap 'umount -l "$W/m" 2>/dev/null || true; rm -rf "$W"' EXIT
ulimit -n $((N + 100))
mkdir -p "$W/m" "$W/src" "$W/lower"; echo x > "$W/src/x"
COWFS_JAR=$NEW "$C" init >/dev/null
COWFS_JAR=$NEW "$C" import "$W/src" --name base >/dev/null
held() { # DIR: hold N files with waiting data, time 300 mkdirs; prints ms per mkdir
  python3 - "$1" "$N" <<'PY'
import mmap, os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d + "/held")
buf = mmap.mmap(-1, 4096)
buf.write(b"x" * 4096)
fds = [os.open("%s/held/f%d" % (d, i), os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o644) for i in range(n)]
for fd in fds:
    os.write(fd, buf)
t = time.time()
for i in range(300):
    os.mkdir("%s/d%d" % (d, i))
print("%.2f" % ((time.time() - t) / 300 * 1000))
for fd in fds:
    os.close(fd)
PY
}
k=0
for r in $(seq 1 "$ROUNDS"); do
  for s in old new fovl host; do
    k=$((k + 1))
    case $s in
      old|new)
        if [ $s = old ]; then export COWFS_JAR=$OLD; else export COWFS_JAR=$NEW; fi
        "$C" fork base --name "v$k" >/dev/null
        "$C" mount "v$k" "$W/m" >/dev/null
        ms=$(held "$W/m/w")
        "$C" umount "$W/m" >/dev/null ;;
      fovl)
        mkdir -p "$W/u$k/upper" "$W/u$k/work"
        fuse-overlayfs -o "lowerdir=$W/lower,upperdir=$W/u$k/upper,workdir=$W/u$k/work" "$W/m"
        ms=$(held "$W/m/w")
        fusermount -u "$W/m"
        rm -rf "$W/u$k" ;;
      host)
        ms=$(held "$W/h$k")
        rm -rf "$W/h$k" ;;
    esac
    printf "round %d %-4s %d files held: %s ms per mkdir\n" "$r" "$s" "$N" "$ms"
  done
done
