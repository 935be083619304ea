#!/usr/bin/env bash
# Many small files read through a view against a snapshot and the peers, in one run:
#   [SRC=DIR] [ROUNDS=2] bash bench-scripts/tools/view-small-files.sh
# SRC (default: the generated 100K-file tree, $DATA/tree) is imported once into a store of its own
# ($BENCH_ROOT/push-ahead-store-NAME, shared with push-ahead-ab.sh). Per round and per system, a fresh
# mount (COWFS_MOUNT_SPARE=0), SRC read once on the host, the page cache dropped (PRETOUCH_GIB as lib.sh),
# then `find M -type f -print0 | xargs -0 cat` three times: cold, then twice warm. Systems:
#   ovl      kernel overlayfs over SRC          fovl   fuse-overlayfs over SRC
#   view     a fresh fork of the snapshot       nowb   the same, cowfs.fuse.writeback=false
#   ro       the fork mounted --ro              snap   the snapshot itself
# A view's open and close cost FLUSH and, on the next stat, GETATTR (the kernel's writeback cache:
# docs/PERFORMANCE.md, 2026-12-03); --ro and snapshots have neither (and read ahead across files).
# Output: one line per sample, and a table in $RESULTS/view-small-files.md.
source "$(dirname "$0")/../lib.sh"
require_jar
ensure_data
SRC=${SRC:-$DATA/tree}
[[ -d $SRC ]] || { echo "view-small-files.sh: no directory $SRC" >&2; exit 2; }
ROUNDS=${ROUNDS:-2}
export COWFS_MOUNT_SPARE=0
CW_STORE=$BENCH_ROOT/push-ahead-store-$(basename "$SRC")
if [[ ! -d $CW_STORE ]]; then cw init >/dev/null && cw import "$SRC" --name tree >/dev/null || abnormal "import of $SRC failed"; fi
MP=$MNT/view-small-files; mkdir -p "$MP"
SYSTEMS=(ovl fovl view nowb ro snap)
declare -A C W
for r in $(seq 1 "$ROUNDS"); do
  for sys in "${SYSTEMS[@]}"; do
    v=vsf-$r-$sys
    case $sys in
      ovl) mount_overlay "$SRC" "$TMPW/vsf" "$MP" ;;
      fovl) mount_fovl "$SRC" "$TMPW/vsf" "$MP" ;;
      view) cw fork tree --name "$v" >/dev/null && mount_cowfs "$v" "$MP" ;;
      nowb) cw fork tree --name "$v" >/dev/null && COWFS_MOUNT_JAVA_OPTS=-Dcowfs.fuse.writeback=false mount_cowfs "$v" "$MP" ;;
      ro) cw fork tree --name "$v" >/dev/null && mount_cowfs "$v" "$MP" --ro ;;
      snap) mount_cowfs tree "$MP" ;;
    esac || { abnormal "view-small-files: mounting $sys failed"; continue; }
    cat "$SRC"/* > /dev/null 2>&1; find "$SRC" -type f -print0 | xargs -0 cat > /dev/null; drop_caches
    for pass in cold warm1 warm2; do
      timed t bash -c "find '$MP' -type f -print0 | xargs -0 cat > /dev/null"
      log "round $r $sys $pass $t s"
      if [[ $pass == cold ]]; then C[$sys]="${C[$sys]:+${C[$sys]}, }$t"; else W[$sys]="${W[$sys]:+${W[$sys]}, }$t"; fi
    done
    if [[ $sys == ovl || $sys == fovl ]]; then umount_any "$MP"; rm -rf "$TMPW/vsf"; else umount_cowfs "$MP"; fi
    [[ $sys == snap || $sys == ovl || $sys == fovl ]] || cw rm "$v" >/dev/null
  done
done
res_begin view-small-files "Many small files read through a view, a snapshot and the peers: $SRC"
th "system" "cold cat (s)" "warm cat (s)"
declare -A names=([ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [view]="cowfs view" [nowb]="cowfs view, cowfs.fuse.writeback=false" [ro]="cowfs view mounted --ro" [snap]="cowfs snapshot")
for sys in "${SYSTEMS[@]}"; do tr_ "${names[$sys]}" "${C[$sys]:-}" "${W[$sys]:-}"; done
note "Each sample a fresh mount (COWFS_MOUNT_SPARE=0); the source read once on the host, then the page cache dropped; cold, then two warm passes of find | xargs cat."
