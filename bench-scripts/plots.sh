#!/usr/bin/env bash
# PNG plots from results/*.tsv (gnuplot): fork latency vs tree size, read times, write times.
source "$(dirname "$0")/lib.sh"
trap - EXIT
command -v gnuplot >/dev/null || { echo "gnuplot not installed (apt-get install gnuplot-nox)"; exit 0; }
declare -A M
for f in "$RESULTS"/*.tsv; do while IFS=$'\t' read -r k v; do [[ -n $k ]] && M[$k]=$v; done < "$f"; done
g() { local v=${M[$1]:-}; [[ -z $v || $v == - ]] && echo NaN || echo "$v"; }
D=$(mktemp -d)

# fork latency vs size
{ echo "n cowfs-fork(self) cowfs-fork(wall) cowfs-fork+mount cp-al cp-a cp-reflink(XFS) overlay-mount fuse-overlayfs-mount"
  for n in $FORK_SIZES; do
    echo "$n $(for t in cowfs_self cowfs_wall cowfs_fm cpal cpa reflink ovl fovl; do awk -v v="$(g fork.$t.$n)" 'BEGIN{ if (v=="NaN") printf "NaN "; else printf "%.4f ", v*1000}'; done)"
  done; } > "$D/fork.dat"
gnuplot <<GP
set terminal pngcairo size 900,560 font ",10" noenhanced
set output "$RESULTS/fork.png"
set title "Fork / copy latency vs tree size (lower is better)"
set logscale xy; set xlabel "files in the tree"; set ylabel "ms"; set key left top; set grid
plot for [i=2:9] "$D/fork.dat" using 1:i with linespoints lw 2 title columnheader(i)
GP

# reads (times, s)
sys="host ovl fovl sqfuse cowsnap cowview"
{ echo "measure ext4 overlayfs fuse-overlayfs squashfuse cowfs-snapshot cowfs-view"
  for t in walk cat; do for c in cold warm; do echo "$t-$c $(for s in $sys; do printf '%s ' "$(g reads.$s.$t.$c)"; done)"; done; done; } > "$D/reads.dat"
{ echo "measure ext4 overlayfs fuse-overlayfs squashfuse cowfs-snapshot cowfs-view"
  for c in cold warm; do echo "seq-$c $(for s in $sys; do awk -v t="$(g reads.$s.seq.$c)" -v b=$((BIG_MB*1048576)) 'BEGIN{ if (t=="NaN" || t==0) printf "NaN "; else printf "%.3f ", b/1e9/t}'; done)"; done; } > "$D/seq.dat"
gnuplot <<GP
set terminal pngcairo size 1000,560 font ",10" noenhanced
set output "$RESULTS/reads.png"
set title "stat walk and cat of all files (seconds, log scale, lower is better)"
set style data histogram; set style histogram cluster gap 1; set style fill solid border -1
set logscale y; set ylabel "s"; set key top left; set grid y
plot for [i=2:7] "$D/reads.dat" using i:xtic(1) title columnheader(i)
set output "$RESULTS/seqread.png"
unset logscale y
set title "sequential read of the ${BIG_MB} MiB file (GB/s, higher is better)"; set ylabel "GB/s"
plot for [i=2:7] "$D/seq.dat" using i:xtic(1) title columnheader(i)
GP

# writes (wall s)
sys="host ovl fovl cowview"
{ echo "test ext4 overlayfs fuse-overlayfs cowfs-view"
  for t in seq rand reseq rerand; do echo "$t $(for s in $sys; do printf '%s ' "$(g writes.$s.$t.wall)"; done)"; done; } > "$D/writes.dat"
gnuplot <<GP
set terminal pngcairo size 900,520 font ",10" noenhanced
set output "$RESULTS/writes.png"
set title "fio writes incl. end fsync (wall seconds, lower is better)"
set style data histogram; set style histogram cluster gap 1; set style fill solid border -1
set ylabel "s"; set key top left; set grid y
plot for [i=2:5] "$D/writes.dat" using i:xtic(1) title columnheader(i)
GP
rm -rf "$D"
ls -la "$RESULTS"/*.png
