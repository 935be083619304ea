#!/usr/bin/env bash
# Read-ahead across files (kernel.PushAhead) on a real tree, against kernel overlayfs, in one run:
#   SRC=DIR [ROUNDS=2] bash bench-scripts/tools/push-ahead-ab.sh
# Imports SRC (default: Python 3.11's library with its site-packages under pyenv) into a store of its own
# ($BENCH_ROOT/push-ahead-store-NAME, NAME the last part of SRC, made once), then per round and per system (kernel overlayfs over SRC; the
# snapshot mounted with cowfs.fuse.pushAhead=0; the snapshot with the default) a fresh mount each time
# (COWFS_MOUNT_SPARE=0), SRC read once on the host, the page cache dropped (PRETOUCH_GIB, as lib.sh), then one of:
#   cat   find M -type f -print0 | xargs -0 cat     (the reader has every directory listed before it reads)
#   grep  grep -r -c zzqqxx M                       (lists each directory when it gets there)
# Output: one line per sample, and a table in $RESULTS/push-ahead-ab.md.
source "$(dirname "$0")/../lib.sh"
require_jar
SRC=${SRC:-$(ls -d /root/.pyenv/versions/3.11*/lib/python3.11 2>/dev/null | head -1)}
[[ -d $SRC ]] || { echo "push-ahead-ab.sh: set SRC to a directory to read" >&2; exit 2; }
ROUNDS=${ROUNDS:-2}
export COWFS_MOUNT_SPARE=0
CW_STORE=$BENCH_ROOT/push-ahead-store-$(basename "$SRC")   # one store per source tree
if [[ ! -d $CW_STORE ]]; then cw init >/dev/null && cw import "$SRC" --name tree >/dev/null || abnormal "import of $SRC failed"; fi
MP=$MNT/push-ahead; mkdir -p "$MP"
declare -A R
for r in $(seq 1 "$ROUNDS"); do
  for sys in ovl off on; do
    for w in cat grep; do
      case $sys in
        ovl) mount_overlay "$SRC" "$TMPW/pa" "$MP" ;;
        off) COWFS_MOUNT_JAVA_OPTS=-Dcowfs.fuse.pushAhead=0 mount_cowfs tree "$MP" ;;
        on) mount_cowfs tree "$MP" ;;
      esac
      cat "$SRC"/* > /dev/null 2>&1; drop_caches
      case $w in
        cat) timed t bash -c "find '$MP' -type f -print0 | xargs -0 cat > /dev/null" ;;
        grep) timed t bash -c "grep -r -c zzqqxx '$MP' > /dev/null; true" ;;
      esac
      log "round $r $sys $w cold $t s"
      R[$sys,$w]="${R[$sys,$w]:+${R[$sys,$w]}, }$t"
      if [[ $sys == ovl ]]; then umount_any "$MP"; else umount_cowfs "$MP"; fi
    done
  done
done
res_begin push-ahead-ab "Read-ahead across files: cold cat and grep -r of $SRC"
th "reader" "kernel overlayfs (s)" "cowfs snapshot, pushAhead=0 (s)" "cowfs snapshot, push ahead (s)"
for w in cat grep; do tr_ "$w" "${R[ovl,$w]}" "${R[off,$w]}" "${R[on,$w]}"; done
note "Each sample a fresh mount (COWFS_MOUNT_SPARE=0), the source read once on the host before, page cache dropped."
