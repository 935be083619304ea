#!/usr/bin/env bash
# Start-up of the commands a CI runner calls most: wall time of `cowfs fork` and `cowfs list` through
# a launcher (JVM start, class-data sharing, store open; the page cache warm) against `cp -al` of a
# 100-file tree. Also part of 02-fork.sh.
#   bench-scripts/02-fork-startup.sh [LAUNCHER...]     (default: this repository's ./cowfs)
# Give an older checkout's launcher too to compare builds in one run (docs/STARTUP.md).
set -uo pipefail
BS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BS_DIR/.." && pwd)"
REPS=${REPS:-11}
launchers=("$@"); ((${#launchers[@]})) || launchers=("$REPO/cowfs")
w=$(mktemp -d); trap 'rm -rf "$w"' EXIT
mkdir -p "$w/src"; for i in $(seq 1 100); do echo "file $i" > "$w/src/f$i"; done

med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
mn() { printf '%s\n' "$@" | sort -g | head -1; }
# run CMD...: prints "wall cpu" seconds (cpu = user + sys)
run() { /usr/bin/time -o "$w/time" -f "%e %U %S" "$@" >/dev/null 2>&1; awk '{printf "%s %.2f\n", $1, $2+$3}' "$w/time"; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $REPS runs each, launchers interleaved run by run; seconds"
ts=(); for ((i=0;i<REPS;i++)); do rm -rf "$w/copy"; t0=$EPOCHREALTIME; cp -al "$w/src" "$w/copy"; ts+=("$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}')"); done
declare -A W C
n=${#launchers[@]}
for ((k=0;k<n;k++)); do
  s="$w/store-$k"; l=${launchers[k]}
  "$l" init --store "$s" >/dev/null 2>&1 && "$l" import "$w/src" --name t --store "$s" >/dev/null 2>&1 \
    || { echo "$l: init/import failed" >&2; exit 1; }
  "$l" list --store "$s" >/dev/null 2>&1   # the first call makes the launcher's archive
done
for ((i=0;i<REPS;i++)); do
  for ((k=0;k<n;k++)); do
    read -r wt ct < <(run "${launchers[k]}" fork t --name "v$i" --store "$w/store-$k"); W[$k,fork]+="$wt "; C[$k,fork]+="$ct "
  done
  for ((k=0;k<n;k++)); do
    read -r wt ct < <(run "${launchers[k]}" list --store "$w/store-$k"); W[$k,list]+="$wt "; C[$k,list]+="$ct "
  done
done
printf '| %-48s | %-12s | %-12s | %-12s | %-12s |\n' "command" "wall median" "wall min" "cpu median" "cpu min"
printf '|%s|%s|%s|%s|%s|\n' "--------------------------------------------------" "--------------" "--------------" "--------------" "--------------"
printf '| %-48s | %-12s | %-12s | %-12s | %-12s |\n' "cp -al (100 files)" "$(med "${ts[@]}")" "$(mn "${ts[@]}")" "-" "-"
for ((k=0;k<n;k++)); do
  for c in fork list; do
    # shellcheck disable=SC2086
    printf '| %-48s | %-12s | %-12s | %-12s | %-12s |\n' "${launchers[k]} $c" "$(med ${W[$k,$c]})" "$(mn ${W[$k,$c]})" "$(med ${C[$k,$c]})" "$(mn ${C[$k,$c]})"
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
