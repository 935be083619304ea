#!/usr/bin/env bash
# Many small files written into a view against the peers, in one run:
#   [ROUNDS=3] [OLD_COWFS_JAR=old.jar] bash bench-scripts/tools/view-small-writes.sh
# What a build cache restoring artifacts, or an engine unpacking a layer, does: 2,000 files of 2 KiB
# (d000 and d001 of the generated tree, read once on the host first) copied with `cp -r`, then
# unpacked with `tar -xpf` (tar sets each file's times, owner and mode on it before closing it), each
# into a fresh upper / a fresh fork, then `sync`. Systems, alternating within each round:
#   ovl   kernel overlayfs over the tree       fovl  fuse-overlayfs over the tree
#   view  a fresh fork of the tree's snapshot  old   the same through OLD_COWFS_JAR (when set)
# The store is the tree's own ($BENCH_ROOT/push-ahead-store-tree, shared with view-small-files.sh).
# Output: one line per sample, and a table of medians in $RESULTS/view-small-writes.md.
source "$(dirname "$0")/../lib.sh"
require_jar
ensure_data
SRC=$DATA/tree
ROUNDS=${ROUNDS:-3}
CW_STORE=$BENCH_ROOT/push-ahead-store-tree
if [[ ! -d $CW_STORE ]]; then cw init >/dev/null && cw import "$SRC" --name tree >/dev/null || abnormal "import of $SRC failed"; fi
MP=$MNT/view-small-writes; mkdir -p "$MP"
TAR=$TMPW/small-writes.tar
tar -C "$SRC" -cf "$TAR" d000 d001 || exit 1
SYSTEMS=(ovl fovl view)
[[ -n ${OLD_COWFS_JAR:-} ]] && SYSTEMS+=(old)
NEW_JAR=$COWFS_JAR
use_jar() { local i; for i in "${!COWFS_CMD[@]}"; do [[ ${COWFS_CMD[$i]} == -cp ]] && COWFS_CMD[$((i + 1))]=$1; done; }
declare -A T
for r in $(seq 1 "$ROUNDS"); do
  for wl in cp tar; do
    for sys in "${SYSTEMS[@]}"; do
      v=vsw-$r-$wl-$sys
      use_jar "$NEW_JAR"; [[ $sys == old ]] && use_jar "$OLD_COWFS_JAR"
      case $sys in
        ovl) mount_overlay "$SRC" "$TMPW/vsw" "$MP" ;;
        fovl) mount_fovl "$SRC" "$TMPW/vsw" "$MP" ;;
        view|old) cw fork tree --name "$v" >/dev/null && mount_cowfs "$v" "$MP" ;;
      esac || { abnormal "view-small-writes: mounting $sys failed"; continue; }
      cat "$TAR" "$SRC"/d000/* "$SRC"/d001/* > /dev/null
      sync
      mkdir "$MP/out"
      if [[ $wl == cp ]]; then
        timed t bash -c "cp -r '$SRC/d000' '$SRC/d001' '$MP/out/' && sync"
      else
        timed t bash -c "tar -C '$MP/out' -xpf '$TAR' && sync"
      fi
      n=$(find "$MP/out" -type f | wc -l)
      [[ $n == 2000 ]] || abnormal "view-small-writes: $sys $wl wrote $n files, not 2000"
      log "round $r $wl $sys $t s"
      T[$wl-$sys]="${T[$wl-$sys]:+${T[$wl-$sys]} }$t"
      if [[ $sys == ovl || $sys == fovl ]]; then umount_any "$MP"; rm -rf "$TMPW/vsw"; else umount_cowfs "$MP"; cw rm "$v" >/dev/null; fi
    done
  done
done
use_jar "$NEW_JAR"
res_begin view-small-writes "Many small files written into a view and the peers (2,000 files of 2 KiB, then sync)"
th "system" "cp -r, median (s)" "cp -r / overlayfs" "cp -r / fuse-overlayfs" "tar -xpf, median (s)" "tar / overlayfs" "tar / fuse-overlayfs" "samples cp; tar"
declare -A names=([ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [view]="**cowfs view**" [old]="cowfs view, $OLD_COWFS_JAR")
for sys in "${SYSTEMS[@]}"; do
  # shellcheck disable=SC2086
  c=$(median ${T[cp-$sys]:-}); tt=$(median ${T[tar-$sys]:-})
  # shellcheck disable=SC2086
  tr_ "${names[$sys]}" "$c" "$(ratio "$c" "$(median ${T[cp-ovl]:-})")" "$(ratio "$c" "$(median ${T[cp-fovl]:-})")" \
      "$tt" "$(ratio "$tt" "$(median ${T[tar-ovl]:-})")" "$(ratio "$tt" "$(median ${T[tar-fovl]:-})")" "${T[cp-$sys]:-}; ${T[tar-$sys]:-}"
done
note "Each sample a fresh upper or a fresh fork and mount; the files and the tarball read once on the host first; the time includes \`sync\`."
