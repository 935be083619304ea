#!/usr/bin/env bash
# Builds results/SUMMARY.md from the per-workload results (results/*.tsv and results/*.md).
source "$(dirname "$0")/lib.sh"
trap - EXIT
declare -A M
for f in "$RESULTS"/*.tsv; do
  [[ -f $f ]] || continue
  while IFS=$'\t' read -r k v; do [[ -n $k ]] && M[$k]=$v; done < "$f"
done
g() { echo "${M[$1]:-}"; }
S=$RESULTS/SUMMARY.md
TOTAL=$((TREE_DIRS*TREE_FILES))
sizes=($FORK_SIZES); BIGN=${sizes[-1]}; SMALLN=${sizes[0]}
fmt() { [[ -z ${1:-} || $1 == - ]] && { echo "-"; return; }; awk -v v="$1" -v u="${2:-s}" 'BEGIN{ if (u=="ms") printf "%.1f ms", v*1000; else if (u=="GB/s") printf "%.2f GB/s", v; else printf "%.2f s", v}'; }
gbs() { [[ -z ${1:-} ]] && { echo ""; return; }; awk -v t="$1" -v b="$((BIG_MB*1048576))" 'BEGIN{printf "%.3f", b/1e9/t}'; }
le() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a=="" || b=="") print "?"; else print (a+0 <= b+0) ? "**met**" : "**missed**" }'; }
ge() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a=="" || b=="") print "?"; else print (a+0 >= b+0) ? "**met**" : "**missed**" }'; }
mx() { printf '%s\n' "$@" | grep -v '^$' | sort -g | tail -1; }
Q=""; [[ $QUICK == 1 ]] && Q=" (quick sizes: absolute targets not comparable)"

{
echo "# cowfs benchmark summary"
echo
echo "_$(date -u '+%Y-%m-%d %H:%M UTC'), $( [[ $QUICK == 1 ]] && echo 'QUICK sizes (development run, not the real numbers)' || echo 'full sizes'), cowfs commit $(git -C "$REPO" rev-parse --short HEAD)_"
echo
echo "## Machine"
echo
echo '```'
echo "nproc: $(nproc); CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
free -g
echo "kernel: $(uname -r)"
echo "disk: $(findmnt -no SOURCE,FSTYPE,OPTIONS --target "$BENCH_ROOT") ($(df -h --output=size "$BENCH_ROOT" | tail -1 | tr -d ' ') total)"
echo "java: $(java -version 2>&1 | head -1)"
echo "peers: fuse-overlayfs $(dpkg-query -W -f='${Version}' fuse-overlayfs 2>/dev/null), squashfs-tools $(dpkg-query -W -f='${Version}' squashfs-tools 2>/dev/null), squashfuse $(dpkg-query -W -f='${Version}' squashfuse 2>/dev/null), rsync $(dpkg-query -W -f='${Version}' rsync 2>/dev/null), $(fio --version), xfsprogs $(dpkg-query -W -f='${Version}' xfsprogs 2>/dev/null)"
echo "load average when the summary was written: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared with other builds and tests)"
[[ -f $RESULTS/run-info.txt ]] && cat "$RESULTS/run-info.txt"
echo '```'
echo
echo "Data: generated tree of $TOTAL files ($TREE_DIRS dirs x $TREE_FILES files of $FILE_BYTES B) + one $BIG_MB MiB random file;"
echo "real trees: \`${REAL_SRC[*]}\` (import), \`$CI_SRC\` (CI snapshots, git status, memory)."
echo
echo "## Targets (DESIGN.md \"Performance targets\")$Q"
echo
echo "| what | cowfs | peers measured in this run | ratio | target | verdict |"
echo "|---|---|---|---|---|---|"
# 1 fork
fs=$(g fork.cowfs_self.$BIGN); fw=$(g fork.cowfs_wall.$BIGN); fs0=$(g fork.cowfs_self.$SMALLN)
# the launcher through the CLI agent (02-fork-startup.sh's table in fork.md; 100-file tree)
fa=$(grep -m1 'cowfs fork (agent)' "$RESULTS/fork.md" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$3); print $3}')
fj=$(grep -m1 'cowfs fork (jvm)' "$RESULTS/fork.md" 2>/dev/null | awk -F'|' '{gsub(/ /,"",$3); print $3}')
fl=$(g fork.cowfs_lself.$BIGN); fl0=$(g fork.cowfs_lself.$SMALLN); flw=$(g fork.cowfs_lwall.$BIGN)
echo "| fork of a $BIGN-file snapshot: the fork itself, through the launcher (plain \`java -cp\`) | $(fmt "$fl" ms) ($(fmt "$fs" ms)); at $SMALLN files $(fmt "$fl0" ms) ($(fmt "$fs0" ms)) | cp -al $(fmt "$(g fork.cpal.$BIGN)"); reflink $(fmt "$(g fork.reflink.$BIGN)"); cp -a $(fmt "$(g fork.cpa.$BIGN)"); overlay mount $(fmt "$(g fork.ovl.$BIGN)" ms) | vs cp -al $(ratio "$fl" "$(g fork.cpal.$BIGN)"); $BIGN vs $SMALLN files $(ratio "$fl" "$fl0") | <= 10 ms, flat in tree size | $(le "$fl" 0.010) ($(le "$fs" 0.010)) |"
echo "| \`cowfs fork\` command, wall, $BIGN files: launcher, a JVM of its own (plain \`java -cp\`) | $(fmt "$flw") ($(fmt "$fw")) | (same) | vs cp -al $(ratio "$flw" "$(g fork.cpal.$BIGN)") | <= 0.25 s | $(le "$flw" 0.25) ($(le "$fw" 0.25)) |"
echo "| \`cowfs fork\` command, wall, 100 files: launcher, a JVM of its own / through the CLI agent | $(fmt "$fj") / $(fmt "$fa") | - | - | <= 0.25 s | $(le "$fj" 0.25) / $(le "$fa" 0.25) |"
# 2 import
ci=$(g import.tree.cowfs_s); cs=$(g import.tree.squashfs_s)
echo "| import $TOTAL files (not a target) | $(fmt "$ci") ($(g import.tree.cowfs_MBps) MB/s; in-command $(fmt "$(g import.tree.cowfs_inner_s)")) | mksquashfs -comp zstd $(fmt "$cs"); cp -a $(fmt "$(g import.tree.cpa_s)") | vs mksquashfs $(ratio "$ci" "$cs") | - | - |"
ci=$(g import.big.cowfs_s); cs=$(g import.big.squashfs_s)
echo "| import the $BIG_MB MiB file (not a target) | $(fmt "$ci") ($(g import.big.cowfs_MBps) MB/s) | mksquashfs $(fmt "$cs"); cp -a $(fmt "$(g import.big.cpa_s)") | vs mksquashfs $(ratio "$ci" "$cs") | - | - |"
ci=$(g import.real.cowfs_s); cs=$(g import.real.squashfs_s)
echo "| import real tree (not a target) | $(fmt "$ci") ($(g import.real.cowfs_MBps) MB/s, stored/logical $(calc "$(g import.real.cowfs_disk)/$(g import.real.logical)" 3)) | mksquashfs $(fmt "$cs") (size/logical $(calc "$(g import.real.squashfs_bytes)/$(g import.real.logical)" 3)) | vs mksquashfs $(ratio "$ci" "$cs") | - | - |"
# 3-5 reads: DESIGN.md sets each target for both mounts; one row per mount
peers() { echo "ext4 $(fmt "$(g reads.host.$1)" "${2:-s}"); overlay $(fmt "$(g reads.ovl.$1)" "${2:-s}"); fuse-overlayfs $(fmt "$(g reads.fovl.$1)" "${2:-s}"); squashfuse $(fmt "$(g reads.sqfuse.$1)" "${2:-s}"); floor $(fmt "$(g reads.floor.$1)" "${2:-s}")"; }
for m in cowsnap cowview; do
  [[ $m == cowsnap ]] && mn=snapshot || mn=view
  ov=$(g reads.ovl.walk.cold); c=$(g reads.$m.walk.cold)
  echo "| stat walk, cold, $mn | $(fmt "$c") | $(peers walk.cold) | vs overlay $(ratio "$c" "$ov") | <= kernel overlay | $(le "$c" "$ov") |"
  ov=$(g reads.ovl.walk.warm); c=$(g reads.$m.walk.warm)
  echo "| stat walk, warm, $mn | $(fmt "$c") | $(peers walk.warm) | vs overlay $(ratio "$c" "$ov") | <= 1.1x kernel overlay | $(le "$c" "$(calc "1.1*${ov:-0}" 4)") |"
  ov=$(g reads.ovl.cat.cold); c=$(g reads.$m.cat.cold)
  echo "| cat of all files, cold, $mn | $(fmt "$c") | $(peers cat.cold) | vs overlay $(ratio "$c" "$ov") | <= 1.2x kernel overlay | $(le "$c" "$(calc "1.2*${ov:-0}" 4)") |"
  fl=$(g reads.floor.cat.warm); c=$(g reads.$m.cat.warm)
  echo "| cat of all files, warm, $mn | $(fmt "$c") | $(peers cat.warm) | vs the floor measured in this run $(ratio "$c" "$fl") | <= 1.1x the FUSE floor | $(le "$c" "$(calc "1.1*${fl:-0}" 4)") |"
  c=$(gbs "$(g reads.$m.seq.cold)"); fo=$(gbs "$(g reads.fovl.seq.cold)")
  echo "| $BIG_MB MiB sequential read, cold, $mn | $(fmt "$c" GB/s) | ext4 $(fmt "$(gbs "$(g reads.host.seq.cold)")" GB/s); overlay $(fmt "$(gbs "$(g reads.ovl.seq.cold)")" GB/s); fuse-overlayfs $(fmt "$fo" GB/s); squashfuse $(fmt "$(gbs "$(g reads.sqfuse.seq.cold)")" GB/s); floor $(fmt "$(gbs "$(g reads.floor.seq.cold)")" GB/s) | vs fuse-overlayfs $(ratio "$c" "$fo") | >= 0.85x fuse-overlayfs and >= 1.5 GB/s | $(ge "$c" "$(calc "0.85*${fo:-0}" 4)") / $(ge "$c" 1.5) |"
  c=$(gbs "$(g reads.$m.seq.warm)"); best=$(mx "$(gbs "$(g reads.fovl.seq.warm)")" "$(gbs "$(g reads.sqfuse.seq.warm)")")
  echo "| $BIG_MB MiB sequential read, warm, $mn | $(fmt "$c" GB/s) | ext4 $(fmt "$(gbs "$(g reads.host.seq.warm)")" GB/s); fuse-overlayfs $(fmt "$(gbs "$(g reads.fovl.seq.warm)")" GB/s); squashfuse $(fmt "$(gbs "$(g reads.sqfuse.seq.warm)")" GB/s) | vs best FUSE peer $(ratio "$c" "$best") | >= 0.9x best FUSE peer ($(calc "0.9*${best:-0}" 2) GB/s) | $(ge "$c" "$(calc "0.9*${best:-0}" 4)") |"
done
# 6 writes
for t in seq rand reseq rerand cptree; do
  case $t in seq) l="sequential write ${BIG_MB} MiB (fio, end_fsync)";; rand) l="random 4K writes ($FIO_RAND_IO, fio, end_fsync)";; reseq) l="sequential rewrite of a base file (fio, end_fsync)";; rerand) l="random 4K rewrites of a base file (fio, end_fsync)";; cptree) l="cp -r of 2,000 small files, then sync (not in DESIGN.md's table)";; esac
  c=$(g writes.cowview.$t.wall); f=$(g writes.fovl.$t.wall); o=$(g writes.ovl.$t.wall)
  echo "| writes: $l | $(fmt "$c") | fuse-overlayfs $(fmt "$f"); overlay $(fmt "$o"); host $(fmt "$(g writes.host.$t.wall)") | vs fuse-overlayfs $(ratio "$c" "$f"); vs overlay $(ratio "$c" "$o") | faster than fuse-overlayfs; within 2x kernel overlay | $(le "$c" "$f") / $(le "$c" "$(calc "2*${o:-0}" 4)") |"
done
# 7 git status
gf=$(g git.cowview.first); gw=$(g git.cowview.warm); of=$(g git.ovl.first); owg=$(g git.ovl.warm)
echo "| \`git status\` in a fresh fork, first (cold) | $(fmt "$gf") | overlay $(fmt "$of"); fuse-overlayfs $(fmt "$(g git.fovl.first)"); host $(fmt "$(g git.host.first)") | vs overlay $(ratio "$gf" "$of") | <= 1.5x kernel overlay | $(le "$gf" "$(calc "1.5*${of:-0}" 4)") |"
echo "| \`git status\`, warm | $(fmt "$gw") | overlay $(fmt "$owg"); fuse-overlayfs $(fmt "$(g git.fovl.warm)"); host $(fmt "$(g git.host.warm)") | vs overlay $(ratio "$gw" "$owg") | <= 1.25x kernel overlay | $(le "$gw" "$(calc "1.25*${owg:-0}" 4)") |"
# 8 memory
mi=$(g mem.idle_rss_kB); mw=$(g mem.walk_rss_kB)
echo "| memory: $(g mem.views) mounted views, idle (sum of VmRSS) | $(awk -v k="${mi:-0}" 'BEGIN{printf "%.2f GiB", k/1048576}') (after a find in each: $(awk -v k="${mw:-0}" 'BEGIN{printf "%.2f GiB", k/1048576}')) | - | per view $(awk -v k="${mi:-0}" -v n="$(g mem.views)" 'BEGIN{if (n>0) printf "%.0f MiB", k/1024/n}') | <= 1.5 GiB for twenty | $(le "${mi:-}" $((3*1048576/2))) |"
# CI
echo "| CI: $CI_N snapshots of \`$CI_SRC\` (not a target) | $(fmt "$(g ci.cowfs.time_s)"), $(hb "$(g ci.cowfs.disk)"), $(g ci.cowfs.inodes) inodes | rsync --link-dest $(fmt "$(g ci.rsync.time_s)"), $(hb "$(g ci.rsync.disk)"), $(g ci.rsync.inodes) inodes; cp -a $(fmt "$(g ci.cpa.time_s)"), $(hb "$(g ci.cpa.disk)") | time vs rsync $(ratio "$(g ci.cowfs.time_s)" "$(g ci.rsync.time_s)"); disk vs rsync $(ratio "$(g ci.cowfs.disk)" "$(g ci.rsync.disk)"); disk vs cp -a $(ratio "$(g ci.cowfs.disk)" "$(g ci.cpa.disk)") | - | - |"
echo
echo "Ratios are cowfs / peer: for times lower is better, for throughputs (GB/s) higher is better. Two verdicts"
echo "in one cell answer the target's two parts in order. The targets are DESIGN.md's table (\"Performance"
echo "targets\"), set for both the snapshot and the view mount; one sample per system unless the table below says"
echo "otherwise, so a verdict near the line can go either way from run to run (absolute numbers here drift by"
echo "30 % or more between runs; docs/PERFORMANCE.md has the alternating measurements)."
echo
echo "Load average: $(grep -m1 'run started' "$RESULTS/run-info.txt" 2>/dev/null); each table below gives the load when it started."
echo "The FUSE floor is the same data held in memory by io.cowfs.fusefs.floor.MemoryFs and served through cowfs's kernel"
echo "adapter, measured in this run (03-reads.sh). bench-scripts/FINDINGS.md is the hand-written report of the first full"
echo "run (2026-11-25), kept as history."
echo
if [[ -s $RESULTS/ABNORMAL.md ]]; then
  echo "## Abnormal cowfs behaviour seen in this run"
  echo
  cat "$RESULTS/ABNORMAL.md"
  echo
fi
echo "## Reproduce"
echo
echo '```sh'
echo "cd $REPO && mvn -q -o -DskipTests package      # builds cli/target/cowfs.jar"
echo "bench-scripts/run-all.sh            # full run (~35 min on 2 cores); --quick for small sizes"
echo "bench-scripts/03-reads.sh           # or one workload at a time (01-import.sh first: it creates the store)"
echo '```'
echo
echo "## Details per workload"
for w in import fork reads writes ci git memory; do
  [[ -f $RESULTS/$w.md ]] || continue
  echo
  sed 's/^# /### /' "$RESULTS/$w.md"
  echo
  ls "$RESULTS"/$w*.png 2>/dev/null | while read -r p; do echo "![$(basename "$p")]($(basename "$p"))"; done
done
} > "$S"
log "wrote $S"
