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
# each launcher's commands in a JVM of their own (COWFS_NO_AGENT=1), then through the CLI agent
# where the launcher has one (cowfs agent start; its own cache directory, stopped at the end)
export XDG_CACHE_HOME="$w/cache"
modes=(jvm agent)
for ((i=0;i<REPS;i++)); do
  for ((k=0;k<n;k++)); do
    read -r wt ct < <(COWFS_NO_AGENT=1 run "${launchers[k]}" fork t --name "v$i" --store "$w/store-$k"); W[$k,fork,jvm]+="$wt "; C[$k,fork,jvm]+="$ct "
  done
  for ((k=0;k<n;k++)); do
    read -r wt ct < <(COWFS_NO_AGENT=1 run "${launchers[k]}" list --store "$w/store-$k"); W[$k,list,jvm]+="$wt "; C[$k,list,jvm]+="$ct "
  done
done
for ((k=0;k<n;k++)); do
  if "${launchers[k]}" agent start --idle 10m >/dev/null 2>&1; then
    for ((i=0;i<REPS;i++)); do
      read -r wt ct < <(run "${launchers[k]}" fork t --name "a$i" --store "$w/store-$k"); W[$k,fork,agent]+="$wt "; C[$k,fork,agent]+="$ct "
      read -r wt ct < <(run "${launchers[k]}" list --store "$w/store-$k"); W[$k,list,agent]+="$wt "; C[$k,list,agent]+="$ct "
    done
    "${launchers[k]}" agent stop >/dev/null 2>&1
  fi
done
printf '| %-48s | %-12s | %-12s | %-12s | %-12s |\n' "command" "wall median" "wall min" "cpu median" "cpu min"
printf '|%s|%s|%s|%s|%s|\n' "--------------------------------------------------" "--------------" "--------------" "--------------" "--------------"
printf '| %-48s | %-12s | %-12s | %-12s | %-12s |\n' "cp -al (100 files)" "$(med "${ts[@]}")" "$(mn "${ts[@]}")" "-" "-"
for ((k=0;k<n;k++)); do
  for m in "${modes[@]}"; do
    for c in fork list; do
      [[ -n ${W[$k,$c,$m]:-} ]] || continue
      # shellcheck disable=SC2086
      printf '| %-48s | %-12s | %-12s | %-12s | %-12s |\n' "${launchers[k]} $c ($m)" "$(med ${W[$k,$c,$m]})" "$(mn ${W[$k,$c,$m]})" "$(med ${C[$k,$c,$m]})" "$(mn ${C[$k,$c,$m]})"
    done
  done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
