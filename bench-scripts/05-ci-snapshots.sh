#!/usr/bin/env bash
# Workload 5: CI snapshots. N code snapshots of one real source tree (one per CI job):
# cowfs import + N forks vs an `rsync --link-dest` hardlink farm, `cp -a`, `cp -al`, and `cp --reflink` on XFS.
# Time, disk used, inodes used. Uses its own store (BENCH_ROOT/ci-store), which the memory workload reuses.
source "$(dirname "$0")/lib.sh"
require_jar
export CW_STORE=$BENCH_ROOT/ci-store
res_begin ci "CI snapshots: $CI_N snapshots of a real source tree"
ensure_xfs || abnormal "(peer) could not set up the XFS loop image"

SRC=$CI_SRC
warm_tree "$SRC"
NF=$(count_files "$SRC"); NE=$(find "$SRC" | wc -l); LOG=$(app_bytes "$SRC")
note "Source: \`$SRC\` ($NF files, $NE entries, $(hb "$LOG") apparent size), $CI_N snapshots."

declare -A T D I
# --- cowfs: import once, then N forks
rm -rf "$CW_STORE"; cw init >/dev/null
timed t_imp cw import "$SRC" --name rev >/dev/null || abnormal "cowfs import $SRC failed"
t0=$(now)
for ((i=0;i<CI_N;i++)); do cw fork rev --name "job$(printf %02d $i)" >/dev/null || abnormal "cowfs fork rev --name job$i failed"; done
t_forks=$(since "$t0")
sync
T[cowfs]=$(calc "$t_imp+$t_forks" 3)
D[cowfs]=$(du_bytes "$CW_STORE"); I[cowfs]=$(find "$CW_STORE" | wc -l)
metric ci.cowfs.import_s "$t_imp"; metric ci.cowfs.forks_s "$t_forks"

# --- rsync --link-dest farm
F=$TMPW/ci-rsync; rm -rf "$F"; mkdir -p "$F"
t0=$(now)
rsync -a "$SRC/" "$F/s00/"
for ((i=1;i<CI_N;i++)); do rsync -a --link-dest="$F/s$(printf %02d $((i-1)))" "$SRC/" "$F/s$(printf %02d $i)/"; done
sync -f "$F"; T[rsync]=$(since "$t0")
D[rsync]=$(du_bytes "$F"); I[rsync]=$(find "$F" -printf '%i\n' | sort -u | wc -l); rm -rf "$F"

# --- cp -a
F=$TMPW/ci-cpa; rm -rf "$F"; mkdir -p "$F"
t0=$(now)
for ((i=0;i<CI_N;i++)); do cp -a "$SRC" "$F/s$(printf %02d $i)"; done
sync -f "$F"; T[cpa]=$(since "$t0")
D[cpa]=$(du_bytes "$F"); I[cpa]=$(find "$F" -printf '%i\n' | sort -u | wc -l); rm -rf "$F"

# --- cp -a once, then cp -al
F=$TMPW/ci-cpal; rm -rf "$F"; mkdir -p "$F"
t0=$(now)
cp -a "$SRC" "$F/s00"
for ((i=1;i<CI_N;i++)); do cp -al "$F/s00" "$F/s$(printf %02d $i)"; done
sync -f "$F"; T[cpal]=$(since "$t0")
D[cpal]=$(du_bytes "$F"); I[cpal]=$(find "$F" -printf '%i\n' | sort -u | wc -l); rm -rf "$F"

# --- XFS: cp -a once, then cp --reflink=always
if is_mounted "$XFS_MP"; then
  F=$XFS_MP/ci; rm -rf "$F"; mkdir -p "$F"; sync
  u0=$(df -B1 --output=used "$XFS_MP" | tail -1); i0=$(df --output=iused "$XFS_MP" | tail -1)
  t0=$(now)
  cp -a "$SRC" "$F/s00"
  for ((i=1;i<CI_N;i++)); do cp -a --reflink=always "$F/s00" "$F/s$(printf %02d $i)"; done
  sync -f "$F"; T[reflink]=$(since "$t0")
  D[reflink]=$(( $(df -B1 --output=used "$XFS_MP" | tail -1) - u0 )); I[reflink]=$(( $(df --output=iused "$XFS_MP" | tail -1) - i0 ))
  rm -rf "$F"
fi

th "method" "time (s)" "per snapshot (s)" "disk used" "inodes used" "time vs cowfs" "disk vs cowfs" "inodes vs cowfs"
for m in cowfs rsync cpal reflink cpa; do
  case $m in
    cowfs) l="**cowfs**: import once + $CI_N x \`cowfs fork\` (import ${t_imp} s, forks ${t_forks} s)";;
    rsync) l="rsync -a, then rsync -a --link-dest=previous";;
    cpal) l="cp -a once, then cp -al";;
    reflink) l="cp -a once, then cp -a --reflink=always (XFS loop)";;
    cpa) l="cp -a each time";;
  esac
  [[ -n ${T[$m]:-} ]] || continue
  tr_ "$l" "${T[$m]}" "$(calc "${T[$m]}/$CI_N" 3)" "$(hb "${D[$m]}")" "${I[$m]}" \
      "$(ratio "${T[$m]}" "${T[cowfs]}")" "$(ratio "${D[$m]}" "${D[cowfs]}")" "$(ratio "${I[$m]}" "${I[cowfs]}")"
  metric "ci.$m.time_s" "${T[$m]}"; metric "ci.$m.disk" "${D[$m]}"; metric "ci.$m.inodes" "${I[$m]}"
done
note "Disk: \`du\` of the farm (hardlinks counted once) or of the cowfs store (packs + LMDB index); for XFS the growth of" \
     "\`df\` used (du cannot see shared extents). Inodes: distinct inode numbers in the farm (directories included) or files in the" \
     "store; for XFS the growth of \`df -i\`. Times include a final \`sync\`. The source is in the page cache." \
     "Hardlink farms share file inodes across snapshots: an in-place write through one snapshot changes all of them," \
     "which cowfs views do not."
