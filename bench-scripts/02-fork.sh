#!/usr/bin/env bash
# Workload 2: fork latency vs tree size. `cowfs fork` (wall time and the time it prints) vs
# cp -al, cp -a, cp --reflink=always (XFS loop image), kernel overlayfs and fuse-overlayfs mount set-up.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_store

res_begin fork "Fork latency vs tree size"
ensure_xfs || abnormal "(peer) could not set up the XFS loop image"
TOTAL=$((TREE_DIRS*TREE_FILES))
FM_REPS=${FM_REPS:-2}

declare -A R   # R[tool,n] = median seconds
sizes=($FORK_SIZES)
for n in "${sizes[@]}"; do
  src=$(fork_src "$n")
  snap=t$n
  if (( n == TOTAL )) && has_name tree; then snap=tree; fi
  ensure_snapshot "$snap" "$src"
  warm_tree "$src"
  log "fork: $n files ($src, snapshot $snap)"

  # cowfs fork: wall and self-reported
  walls=(); selfs=()
  for ((i=0;i<REPS+1;i++)); do
    v=$(uname_ "f$n")
    t0=$(now); out=$(cw fork "$snap" --name "$v" 2>&1); rc=$?; w=$(since "$t0")
    if ((rc)); then abnormal "cowfs fork $snap --name $v failed: $out"; continue; fi
    ((i==0)) && continue   # first run warms the OS cache of the jar/store
    walls+=("$w"); selfs+=("$(sed -n 's/.* in \([0-9.]*\) ms.*/\1/p' <<<"$out")")
  done
  R[cowfs_wall,$n]=$(median "${walls[@]}"); R[cowfs_self,$n]=$(awk -v m="$(median "${selfs[@]}")" 'BEGIN{printf "%.4f", m/1000}')
  log "  cowfs fork wall ${R[cowfs_wall,$n]} s, self ${R[cowfs_self,$n]} s (samples: ${selfs[*]} ms)"

  # the same through the launcher users run (./cowfs: its class-data-sharing archive and JIT flags,
  # docs/STARTUP.md), a JVM per command (COWFS_NO_AGENT=1), this jar (COWFS_JAR: never builds)
  walls=(); selfs=()
  for ((i=0;i<REPS+1;i++)); do
    v=$(uname_ "l$n")
    t0=$(now); out=$(COWFS_JAR=$COWFS_JAR COWFS_NO_AGENT=1 "$REPO/cowfs" fork --store="$STORE" "$snap" --name "$v" 2>&1); rc=$?; w=$(since "$t0")
    if ((rc)); then abnormal "cowfs fork (launcher) $snap --name $v failed: $out"; continue; fi
    ((i==0)) && continue   # the first may train the launcher's archive for this jar
    walls+=("$w"); selfs+=("$(sed -n 's/.* in \([0-9.]*\) ms.*/\1/p' <<<"$out")")
  done
  R[cowfs_lwall,$n]=$(median "${walls[@]}"); R[cowfs_lself,$n]=$(awk -v m="$(median "${selfs[@]}")" 'BEGIN{printf "%.4f", m/1000}')
  log "  launcher: cowfs fork wall ${R[cowfs_lwall,$n]} s, self ${R[cowfs_lself,$n]} s (samples: ${selfs[*]} ms)"

  # cowfs fork + mount until the view answers (what a CI job waits for)
  fm=()
  for ((i=0;i<FM_REPS;i++)); do
    v=$(uname_ "fm$n"); mp=$MNT/fork-$v
    t0=$(now); cw fork "$snap" --name "$v" >/dev/null && mount_cowfs "$v" "$mp" && ls "$mp" >/dev/null; fm+=("$(since "$t0")")
    umount_cowfs "$mp"; rmdir "$mp"
  done
  R[cowfs_fm,$n]=$(median "${fm[@]}")

  # cp -al / cp -a on ext4
  for tool in cpal cpa; do
    ts=()
    for ((i=0;i<3;i++)); do
      dst=$TMPW/forkcopy; rm -rf "$dst"
      if [[ $tool == cpal ]]; then timed t cp -al "$src" "$dst"; else timed t cp -a "$src" "$dst"; fi
      ts+=("$t")
    done
    rm -rf "$dst"
    R[$tool,$n]=$(median "${ts[@]}")
  done
  # cp --reflink=always on XFS
  if is_mounted "$XFS_MP"; then
    xs=$XFS_MP/src$n; [[ -d $xs ]] || cp -a "$src" "$xs"
    ts=()
    for ((i=0;i<3;i++)); do
      rm -rf "$XFS_MP/dst"; timed t cp -a --reflink=always "$xs" "$XFS_MP/dst"; ts+=("$t")
    done
    rm -rf "$XFS_MP/dst" "$xs"
    R[reflink,$n]=$(median "${ts[@]}")
  fi
  # overlay set-up: mkdir upper/work + mount
  for tool in ovl fovl; do
    ts=()
    for ((i=0;i<REPS;i++)); do
      ub=$TMPW/ovl-fork; mp=$MNT/ovl-fork; rm -rf "$ub"; mkdir -p "$mp"
      if [[ $tool == ovl ]]; then timed t mount_overlay "$src" "$ub" "$mp"; else timed t mount_fovl "$src" "$ub" "$mp"; fi
      ts+=("$t"); umount_any "$mp"
    done
    R[$tool,$n]=$(median "${ts[@]}")
  done
done

ms() { [[ ${1:-} == "" || $1 == "-" ]] && { echo "-"; return; }; awk -v s="$1" 'BEGIN{v=s*1000; if (v<10) printf "%.1f", v; else printf "%.0f", v}'; }
hdr=("tool")
for n in "${sizes[@]}"; do hdr+=("$n files (ms)"); done
big=${sizes[-1]}
hdr+=("vs cowfs fork wall @ $big" "growth $big vs ${sizes[0]} files")
th "${hdr[@]}"
for tool in cowfs_self cowfs_wall cowfs_lself cowfs_lwall cowfs_fm cpal cpa reflink ovl fovl; do
  case $tool in
    cowfs_self) label="**cowfs fork** (time it prints; plain \`java -cp cowfs.jar\`)";;
    cowfs_wall) label="**cowfs fork** command (wall, JVM incl.; plain \`java -cp cowfs.jar\`)";;
    cowfs_lself) label="**cowfs fork** through the launcher (time it prints)";;
    cowfs_lwall) label="**cowfs fork** through the launcher (wall, a JVM of its own)";;
    cowfs_fm) label="cowfs fork + mount (view answers)";;
    cpal) label="cp -al (ext4)";; cpa) label="cp -a (ext4)";;
    reflink) label="cp -a --reflink=always (XFS loop)";;
    ovl) label="kernel overlayfs: mkdir+mount";; fovl) label="fuse-overlayfs: mkdir+mount";;
  esac
  row=("$label")
  for n in "${sizes[@]}"; do row+=("$(ms "${R[$tool,$n]:-}")"); metric "fork.$tool.$n" "${R[$tool,$n]:-}"; done
  row+=("$(ratio "${R[$tool,$big]:-}" "${R[cowfs_wall,$big]}")" "$(ratio "${R[$tool,$big]:-}" "${R[$tool,${sizes[0]}]:-}")")
  tr_ "${row[@]}"
done
note "Median of $REPS runs (cp/reflink: 3 runs, fork+mount: $FM_REPS), page cache warm. 'cowfs fork (time it prints)' is the fork" \
     "itself as the CLI reports it; the wall time adds JVM start-up and store open. Plain \`java -cp\` is how the other scripts run" \
     "the CLI; the launcher (\`./cowfs\`, what users run) adds its class-data-sharing archive and JIT flags (docs/STARTUP.md)." \
     "Copies are deleted between runs (not timed)."

# Start-up of `cowfs fork` / `cowfs list` through the launcher against cp -al of 100 files (issue 14).
md "" "### Start-up through the launcher (100-file tree)" ""
md "$(bash "$BS_DIR/02-fork-startup.sh" "$REPO/cowfs")"
