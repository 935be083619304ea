#!/usr/bin/env bash
# Workload 21: a tree of a million small files (a monorepo, a package cache, a dataset of small
# records) walked through a snapshot and a view, against the host, kernel overlayfs and
# fuse-overlayfs over the same tree in the same run:
#   find:   `find DIR -type f | wc -l` right after the mount and `drop_caches` (cold), then again (warm);
#   ls -lR: `find DIR -ls` (a stat of every entry) once more, warm;
#   memory: the mount process's peak and final resident memory (VmHWM, VmRSS) after the walks.
# Until 2026-12-06 a cowfs mount ran out of its heap (then 384 MiB) in the first `find`, and hung.
# Its own store ($BENCH_ROOT/million-store): a million chunks would change the main store's index
# under every other workload. MF_DIRS x MF_FILES (1,000 x 1,000; QUICK: 100 x 100).
source "$(dirname "$0")/lib.sh"
require_jar
export CW_STORE=$BENCH_ROOT/million-store
ND=${MF_DIRS:-1000}; NF=${MF_FILES:-1000}
[[ $QUICK == 1 ]] && { ND=100; NF=100; }
SRC=$DATA/million-$ND-$NF
if [[ ! -f $SRC.done ]]; then
  log "generating $ND x $NF files in $SRC"
  rm -rf "$SRC"; mkdir -p "$SRC"
  /usr/bin/python3 - "$SRC" "$ND" "$NF" <<'EOF'
import os, sys
root, nd, nf = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in range(nd):
    p = os.path.join(root, "d%04d" % d, "sub%d" % (d % 7)); os.makedirs(p)
    for f in range(nf):
        with open(os.path.join(p, "f%05d.txt" % f), "w") as fh:
            fh.write(("file %d %d\n" % (d, f)) * 3)
EOF
  touch "$SRC.done"
fi
N=$((ND * NF))
res_begin million "a tree of $N small files walked"
t0=$(now)
ensure_snapshot million "$SRC" || exit 1
log "import (or found): $(since "$t0") s"

SYSTEMS=(host ovl fovl cowsnap cowview)
declare -A LABEL=([host]="host ext4" [ovl]="kernel overlayfs" [fovl]="fuse-overlayfs"
                  [cowsnap]="**cowfs snapshot (--ro)**" [cowview]="**cowfs view (fresh fork)**")
declare -A COLD WARM LS HWM RSS
for sys in "${SYSTEMS[@]}"; do
  log "million: $sys"
  DIR=
  case $sys in
    host) DIR=$SRC ;;
    ovl) mount_overlay "$SRC" "$TMPW/mf-ovl" "$MNT/mf-ovl" && DIR=$MNT/mf-ovl ;;
    fovl) mount_fovl "$SRC" "$TMPW/mf-fovl" "$MNT/mf-fovl" && DIR=$MNT/mf-fovl ;;
    cowsnap) mount_cowfs million "$MNT/mf-snap" --ro && DIR=$MNT/mf-snap ;;
    cowview) v=$(uname_ mfv); cw fork million --name "$v" >/dev/null && mount_cowfs "$v" "$MNT/mf-view" && DIR=$MNT/mf-view ;;
  esac
  [[ -n $DIR ]] || { abnormal "million: set-up of $sys failed"; continue; }
  sync; drop_caches
  timed COLD[$sys] bash -c "find '$DIR' -type f | wc -l > '$TMPW/mf-count'"
  got=$(cat "$TMPW/mf-count")
  [[ $got == $N ]] || abnormal "million: $sys: find counted $got files, expected $N"
  timed WARM[$sys] bash -c "find '$DIR' -type f | wc -l > /dev/null"
  timed LS[$sys] bash -c "find '$DIR' -ls > /dev/null"
  if [[ $sys == cow* ]]; then
    pid=$(cowfs_pid "$DIR")
    if [[ -n $pid ]]; then
      HWM[$sys]=$(awk '/^VmHWM:/{printf "%.0f", $2/1024}' "/proc/$pid/status")
      RSS[$sys]=$(awk '/^VmRSS:/{printf "%.0f", $2/1024}' "/proc/$pid/status")
    fi
  elif [[ $sys == fovl ]]; then
    pid=$(pgrep -f -- "fuse-overlayfs .*$MNT/mf-fovl" | head -1)
    [[ -n $pid ]] && HWM[$sys]=$(awk '/^VmHWM:/{printf "%.0f", $2/1024}' "/proc/$pid/status") \
                  && RSS[$sys]=$(awk '/^VmRSS:/{printf "%.0f", $2/1024}' "/proc/$pid/status")
  fi
  log "  cold ${COLD[$sys]} s, warm ${WARM[$sys]} s, ls ${LS[$sys]} s, peak ${HWM[$sys]:--} MiB"
  metric "million.$sys.cold" "${COLD[$sys]}"; metric "million.$sys.warm" "${WARM[$sys]}"; metric "million.$sys.ls" "${LS[$sys]}"
  case $sys in
    ovl|fovl) umount_any "$DIR"; rm -rf "$TMPW/mf-$sys" ;;
    cowsnap|cowview) umount_cowfs "$DIR" ;;
  esac
done
th "where" "cold find (s)" "vs kernel overlay" "vs fuse-overlayfs" "warm find (s)" "find -ls, warm (s)" "vs fuse-overlayfs" "process peak / end (MiB)"
for sys in "${SYSTEMS[@]}"; do
  tr_ "${LABEL[$sys]}" "${COLD[$sys]:--}" "$(ratio "${COLD[$sys]:-}" "${COLD[ovl]:-}")" "$(ratio "${COLD[$sys]:-}" "${COLD[fovl]:-}")" \
      "${WARM[$sys]:--}" "${LS[$sys]:--}" "$(ratio "${LS[$sys]:-}" "${LS[fovl]:-}")" "${HWM[$sys]:--} / ${RSS[$sys]:--}"
done
note "$N files of 30 B in $ND directories (each in a subdirectory of its own), imported into a store of their own." \
     "cold: \`find -type f | wc -l\` right after the mount and \`drop_caches\`; warm: the same again; then \`find -ls\`." \
     "Host ext4 is the tree itself (its dentries dropped too). Peak and end: VmHWM and VmRSS of the serving process after the walks."
