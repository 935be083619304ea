#!/usr/bin/env bash
# Two builds, alternating (old new new old, N rounds), each sample a fresh view:
#   bench-scripts/tools/truncate-ab.sh OLD.jar NEW.jar [ROUNDS]
# 2,000 closed files of 5,000 bytes, then truncate(2) by path of each to 100,000 (a grow from inside a
# 64 KiB block: perl's truncate, no descriptor), then `truncate -s 70000` of 500 of them (open,
# ftruncate, close). Prints the two times per sample; docs/PERFORMANCE.md (2026-12-04, fecf64c).
set -euo pipefail
OLD=$(realpath "$1"); NEW=$(realpath "$2"); ROUNDS=${3:-4}
C=$(cd "$(dirname "$0")/../.." && pwd)/cowfs
W=$(mktemp -d /tmp/truncate-ab.XXXXXX)
export COWFS_STORE=$W/st
trap 'umount -l "$W/m" 2>/dev/null || true; rm -rf "$W"' EXIT
mkdir -p "$W/m" "$W/src"; echo x > "$W/src/x"
COWFS_JAR=$NEW "$C" init >/dev/null
COWFS_JAR=$NEW "$C" import "$W/src" --name base >/dev/null
k=0
for r in $(seq 1 "$ROUNDS"); do
  for b in old new new old; do
    k=$((k + 1))
    if [ $b = old ]; then export COWFS_JAR=$OLD; else export COWFS_JAR=$NEW; fi
    "$C" fork base --name "v$k" >/dev/null
    "$C" mount "v$k" "$W/m" >/dev/null
    python3 -c "
import sys
for i in range(2000):
    with open('%s/m/f%d' % (sys.argv[1], i), 'wb') as f:
        f.write(b'y' * 5000)
" "$W"
    t0=$(date +%s.%N)
    perl -e 'for $i (0..1999) { truncate("$ARGV[0]/m/f$i", 100000) or die "truncate: $!" }' "$W"
    t1=$(date +%s.%N)
    (cd "$W/m" && for i in $(seq 0 499); do truncate -s 70000 "f$i"; done)
    t2=$(date +%s.%N)
    "$C" umount "$W/m" >/dev/null
    printf "%s path truncates %.3f s  truncate -s (500) %.3f s\n" $b "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
  done
done
