#!/usr/bin/env bash
# The mount's kernel read-ahead (cowfs.readAheadKb) A/B: fresh mounts of a fork of a bench snapshot, settings
# alternating, page cache dropped and PRE GiB pre-touched before each cold read (docs/PERFORMANCE.md, 2026-12-03).
#   WHAT=vm   map vm4096's image MAP_PRIVATE and touch every page in order (10-vm-memory's vmtool)
#   WHAT=rvm  touch NT random pages of the image's first 2 GiB (rtouch.c, beside this script)
#   WHAT=dd   dd bs=1M of big/big.bin
# Needs the full bench store (bench-scripts/run-all.sh or issue12.sh made it). Usage:
#   WHAT=vm ROUNDS=5 RAS="1024 4096" bash bench-scripts/tools/readahead-ab.sh
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/../lib.sh" >/dev/null 2>&1
export CW_STORE=$BENCH_ROOT/store
WHAT=${WHAT:-vm}
case $WHAT in
  vm|rvm) SNAP=vm4096; F=mem.img ;;
  dd) SNAP=big; F=big.bin ;;
  *) echo "WHAT is vm, rvm or dd" >&2; exit 2 ;;
esac
[[ $WHAT != rvm ]] || gcc -O2 -o "$TMPW/rtouch" "$HERE/rtouch.c" || exit 1
[[ $WHAT != vm || -x $TMPW/vmtool ]] || { echo "no $TMPW/vmtool: run bench-scripts/10-vm-memory.sh once first" >&2; exit 1; }
V=ra-$$
MP=$TMPW/ra-mp; mkdir -p "$MP"
cw fork $SNAP --name $V >/dev/null || exit 1
trap 'is_mounted "$MP" && cw umount "$MP" >/dev/null; cw rm $V >/dev/null' EXIT
for r in $(seq "${ROUNDS:-3}"); do
  for ra in ${RAS:-1024 4096}; do
    COWFS_MOUNT_SPARE=0 COWFS_MOUNT_JAVA_OPTS="-Dcowfs.readAheadKb=$ra" cw mount $V "$MP" >/dev/null || { echo "mount failed" >&2; exit 1; }
    sync; echo 3 > /proc/sys/vm/drop_caches; sleep 0.3; python3 -c "b = bytearray(${PRE:-9} << 30)"
    sz=$(stat -c %s "$MP/$F")
    t0=$(date +%s.%N)
    case $WHAT in
      vm) "$TMPW/vmtool" read "$MP/$F" >/dev/null ;;
      rvm) "$TMPW/rtouch" "$MP/$F" "${NT:-300}" 2048 >/dev/null ;;
      dd) dd if="$MP/$F" of=/dev/null bs=1M status=none ;;
    esac
    t1=$(date +%s.%N)
    echo "round $r readAheadKb $ra: $(awk -v a=$t0 -v b=$t1 -v s=$sz -v w=$WHAT 'BEGIN{printf "%.3f s", b-a; if (w != "rvm") printf ", %.2f GB/s", s/(b-a)/1e9}'), load $(cut -d' ' -f1 /proc/loadavg)"
    cw umount "$MP" >/dev/null
  done
done
