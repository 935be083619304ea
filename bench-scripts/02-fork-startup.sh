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
wall() { local t0=$EPOCHREALTIME; "$@" >/dev/null 2>&1; awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}'; }

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); $REPS runs each, median (min) in seconds"
printf '| %-52s | %-16s | %-16s |\n' "command" "median s" "min s"
printf '|%s|%s|%s|\n' "------------------------------------------------------" "------------------" "------------------"
ts=(); for ((i=0;i<REPS;i++)); do rm -rf "$w/copy"; ts+=("$(wall cp -al "$w/src" "$w/copy")"); done
printf '| %-52s | %-16s | %-16s |\n' "cp -al (100 files)" "$(med "${ts[@]}")" "$(mn "${ts[@]}")"
for l in "${launchers[@]}"; do
  s="$w/store-$RANDOM"
  "$l" init --store "$s" >/dev/null 2>&1 && "$l" import "$w/src" --name t --store "$s" >/dev/null 2>&1 \
    || { echo "$l: init/import failed" >&2; continue; }
  "$l" list --store "$s" >/dev/null 2>&1   # first call makes the launcher's archive
  fs=(); ls_=()
  for ((i=0;i<REPS;i++)); do fs+=("$(wall "$l" fork t --name "v$i" --store "$s")"); done
  for ((i=0;i<REPS;i++)); do ls_+=("$(wall "$l" list --store "$s")"); done
  printf '| %-52s | %-16s | %-16s |\n' "$l fork" "$(med "${fs[@]}")" "$(mn "${fs[@]}")"
  printf '| %-52s | %-16s | %-16s |\n' "$l list" "$(med "${ls_[@]}")" "$(mn "${ls_[@]}")"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
