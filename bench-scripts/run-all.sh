#!/usr/bin/env bash
# Runs every cowfs benchmark workload once, same data, then writes results/SUMMARY.md (+ PNG plots if gnuplot is there).
#   bench-scripts/run-all.sh [--quick]
# --quick: small sizes (develop the scripts); results then go to results/quick/.
source "$(dirname "$0")/lib.sh"
trap - EXIT
[[ -f $COWFS_JAR ]] || (cd "$REPO" && mvn -q -o -DskipTests package) || { echo "build failed" >&2; exit 1; }
for p in fuse-overlayfs rsync fio mksquashfs squashfuse mkfs.xfs gnuplot git; do
  command -v "$p" >/dev/null || missing+=" $p"
done
if [[ -n ${missing:-} ]]; then
  log "installing missing tools:$missing"
  apt-get update -qq >/dev/null
  # never the old 'fuse' package: it breaks fuse3
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse-overlayfs rsync fio squashfs-tools squashfuse xfsprogs gnuplot-nox git >/dev/null
fi
# only what this run's workloads, plots and summary write: results/ also keeps the by-hand runs
# (ab-alternate-*.md, issue12/, ...) that docs/PERFORMANCE.md cites
for n in import fork reads writes ci git memory build; do rm -f "$RESULTS/$n.md" "$RESULTS/$n.tsv"; done
rm -f "$RESULTS"/{fork,reads,seqread,writes}.png "$RESULTS/SUMMARY.md" "$RESULTS/ABNORMAL.md"
T0=$(now)
{ echo "run started $(date -u '+%H:%M:%S UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$RESULTS/run-info.txt"
args=(); [[ $QUICK == 1 ]] && args=(--quick)
for w in 01-import 02-fork 03-reads 04-writes 05-ci-snapshots 06-git-status 07-memory 09-build-roundtrip; do
  log "=== $w"
  t=$(now)
  if ! "$BS_DIR/$w.sh" "${args[@]}" > "$RESULTS/$w.log" 2>&1; then
    printf -- '- [%s] the workload script exited non-zero (see results/%s.log)\n' "$w" "$w" >> "$RESULTS/ABNORMAL.md"
  fi
  echo "$w: $(since "$t") s" >> "$RESULTS/run-info.txt"
  log "    $(since "$t") s"
done
command -v gnuplot >/dev/null && { "$BS_DIR/plots.sh" "${args[@]}" >> "$RESULTS/plots.log" 2>&1 || true; }
echo "total: $(since "$T0") s, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RESULTS/run-info.txt"
"$BS_DIR/summary.sh" "${args[@]}"
log "done in $(since "$T0") s: $RESULTS/SUMMARY.md"
