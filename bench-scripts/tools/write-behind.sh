#!/bin/bash
# fio sequential 1 GiB write (end_fsync) in a fresh view of a scratch store, alternating: plain, and with
# write-behind-py starting writeback of the store's packs every 50 ms (what sync_file_range in PackWriter
# would do). ROUNDS (default 6). docs/PERFORMANCE.md, 2026-12-03. Run as root (drop_caches).
here=$(cd "$(dirname "$0")" && pwd); cd "$here/.." && source lib.sh >/dev/null 2>&1
W=$(mktemp -d /tmp/cowfs-wb.XXXX); export CW_STORE=$W/store
trap 'rm -rf "$W"' EXIT
mkdir -p $W/src && echo hi > $W/src/a
cw init >/dev/null && cw import $W/src --name snap >/dev/null || exit 1
FIO="fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 --name=w --rw=write --bs=1M --size=1G --output-format=json"
run() { # label dir
  drop_caches
  s=$(date +%s.%N); (cd "$2" && $FIO > /dev/null) || exit 1; e=$(date +%s.%N)
  echo "$1 $(echo "$e - $s" | bc)"
}
for r in $(seq 1 "${ROUNDS:-6}"); do
  cw fork snap --name a$r >/dev/null; mkdir -p $W/a$r; cw mount a$r $W/a$r >/dev/null || exit 1
  run plain $W/a$r; cw umount $W/a$r >/dev/null
  cw fork snap --name b$r >/dev/null; mkdir -p $W/b$r; cw mount b$r $W/b$r >/dev/null || exit 1
  touch $W/flag; python3 "$here/write-behind.py" "$CW_STORE" $W/flag & p=$!
  run write-behind $W/b$r; rm -f $W/flag; wait $p; cw umount $W/b$r >/dev/null
done
