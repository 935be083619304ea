#!/usr/bin/env bash
# Workload 15: reads of a file while a big write runs in the same directory tree. fio writes a new
# ${BIG_MB} MiB file sequentially (1 MiB blocks, end_fsync) while a reader reads random 64 KiB pieces
# of the base's big.bin with O_DIRECT (each one a request to the filesystem, no page cache), through
# kernel overlayfs, fuse-overlayfs and a cowfs view. Per system: the write's time, and the reader's
# count of reads during it and their latency (median, p99, max); and the same reader alone for 3 s
# before (cold too), for what the write changes. Issue 12 asks that hashing and
# compression of written data run "outside any lock a reader needs": this is what a reader of the
# view sees while a write stores its data.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot big "$DATA/big" || exit 1
res_begin read-during-write "Reads while a ${BIG_MB} MiB write runs: reader latency by system"
read -r -a SYSTEMS <<< "${SYSTEMS:-ovl fovl cowview}"
declare -A LABEL=([ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [cowview]="**cowfs view**")
cat > "$TMPW/reader.py" <<'PY'
import mmap, os, random, sys, time
path, stop, blocks = sys.argv[1], sys.argv[2], int(sys.argv[3])
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
buf = mmap.mmap(-1, 65536)
lat = []
while not os.path.exists(stop):
    t = time.perf_counter()
    os.preadv(fd, [buf], random.randrange(blocks) * 65536)
    lat.append(time.perf_counter() - t)
lat.sort()
n = len(lat)
print(n, lat[n // 2] * 1000, lat[min(n - 1, int(n * 0.99))] * 1000, lat[-1] * 1000) if n else print(0, 0, 0, 0)
PY
th "system" "write (s)" "reads during it (per s)" "read median (ms)" "read p99 (ms)" "read max (ms)" "alone: reads per s" "alone: median (ms)" "alone: p99 (ms)"
for sys in "${SYSTEMS[@]}"; do
  case $sys in
    ovl) mount_overlay "$DATA/big" "$TMPW/rw-ovl" "$MNT/rw-ovl"; DIR=$MNT/rw-ovl ;;
    fovl) mount_fovl "$DATA/big" "$TMPW/rw-fovl" "$MNT/rw-fovl"; DIR=$MNT/rw-fovl ;;
    cowview) VIEW=$(uname_ rw); cw fork big --name "$VIEW" >/dev/null && mount_cowfs "$VIEW" "$MNT/rw-cow"; DIR=$MNT/rw-cow ;;
  esac
  [[ -f $DIR/big.bin ]] || { abnormal "read-during-write: set-up of $sys failed"; continue; }
  # the reader alone first (3 s, cold), for what the write then changes
  drop_caches
  stop=$TMPW/reader.stop; rm -f "$stop"
  python3 "$TMPW/reader.py" "$DIR/big.bin" "$stop" $((BIG_MB * 16)) > "$TMPW/reader.out" &
  rp=$!; sleep 3; touch "$stop"; wait "$rp"
  read -r an ap50 ap99 _ < "$TMPW/reader.out"
  drop_caches
  rm -f "$stop"
  python3 "$TMPW/reader.py" "$DIR/big.bin" "$stop" $((BIG_MB * 16)) > "$TMPW/reader.out" &
  rp=$!
  t0=$(now)
  (cd "$DIR" && fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 \
     --name=w --rw=write --bs=1M --size=${BIG_MB}M --filename=new.bin >/dev/null) || abnormal "read-during-write: fio on $sys failed"
  w=$(since "$t0")
  touch "$stop"; wait "$rp"
  read -r n p50 p99 mx < "$TMPW/reader.out"
  tr_ "${LABEL[$sys]}" "$(calc "$w" 2)" "$n ($(calc "$n / $w" 0))" "$(calc "$p50" 2)" "$(calc "$p99" 1)" "$(calc "$mx" 1)" \
      "$(calc "$an / 3" 0)" "$(calc "$ap50" 2)" "$(calc "$ap99" 1)"
  metric "rdw.$sys.write_s" "$w"; metric "rdw.$sys.reads_per_s" "$(calc "$n / $w" 1)"; metric "rdw.$sys.alone_per_s" "$(calc "$an / 3" 1)"
  metric "rdw.$sys.read_p99_ms" "$p99"; metric "rdw.$sys.read_max_ms" "$mx"
  case $sys in
    ovl) umount_any "$MNT/rw-ovl"; rm -rf "$TMPW/rw-ovl" ;;
    fovl) umount_any "$MNT/rw-fovl"; rm -rf "$TMPW/rw-fovl" ;;
    cowview) umount_cowfs "$MNT/rw-cow"; cw rm "$VIEW" >/dev/null; cw gc >/dev/null ;;
  esac
done
note "Reader: \`preadv\` of 64 KiB at random 64 KiB-aligned offsets of big.bin, O_DIRECT, one at a time, page cache" \
     "dropped first; 'alone': 3 s with nothing else running; then again from the start of the write to its end (fio \`--rw=write --bs=1M --size=${BIG_MB}M --end_fsync=1\` into new.bin beside it)."
