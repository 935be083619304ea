#!/usr/bin/env bash
# Workload 7: memory. MEM_VIEWS views of one snapshot (the CI source tree) mounted at once: resident memory of
# the mount processes when idle, after a `find` walk in each, and after a cat of every file in one of them.
source "$(dirname "$0")/lib.sh"
require_jar
export CW_STORE=$BENCH_ROOT/ci-store
ensure_snapshot rev "$CI_SRC" || exit 1
res_begin memory "Memory: $MEM_VIEWS mounted views of one snapshot"

# sum of VmRSS and Pss (kB) over the mount processes
declare -a MPS PIDS
rss_sum() {
  local p r=0 s=0 x y mx=0 mn=999999999
  for p in "${PIDS[@]}"; do
    x=$(awk '/^VmRSS:/{print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    y=$(awk '/^Pss:/{print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
    r=$((r + ${x:-0})); s=$((s + ${y:-0}))
    (( x > mx )) && mx=$x; (( x < mn )) && mn=$x
  done
  echo "$r $s $mn $mx"
}
V=$(uname_ mem)
t0=$(now)
for ((i=0;i<MEM_VIEWS;i++)); do cw fork rev --name "$V-$i" >/dev/null || abnormal "fork $V-$i failed"; done
t_fork=$(since "$t0")
t0=$(now)
for ((i=0;i<MEM_VIEWS;i++)); do
  mp=$MNT/mem-$i; mount_cowfs "$V-$i" "$mp" || continue
  MPS+=("$mp"); PIDS+=("$(cowfs_pid "$mp")")
done
t_mount=$(since "$t0")
log "memory: ${#PIDS[@]} mounts up (pids ${PIDS[*]}); idle 10 s"
sleep 10
read -r idle_rss idle_pss idle_min idle_max < <(rss_sum)
t0=$(now)
for mp in "${MPS[@]}"; do find "$mp" -printf '%s %m\n' > /dev/null || abnormal "find in $mp failed"; done
t_walk=$(since "$t0")
sleep 2
read -r walk_rss walk_pss walk_min walk_max < <(rss_sum)
timed t_cat bash -c "find '${MPS[0]}' -type f -print0 | xargs -0 cat > /dev/null" || abnormal "cat of all files in ${MPS[0]} failed"
sleep 2
read -r cat_rss cat_pss cat_min cat_max < <(rss_sum)
one_cat=$(awk '/^VmRSS:/{print $2}' "/proc/${PIDS[0]}/status")
log "memory: idle 10 s again"
sleep 10
read -r again_rss again_pss again_min again_max < <(rss_sum)
t0=$(now)
for mp in "${MPS[@]}"; do umount_cowfs "$mp"; done
t_umount=$(since "$t0")

g() { awk -v k="$1" 'BEGIN{printf "%.2f GiB", k/1048576}'; }
m() { awk -v k="$1" 'BEGIN{printf "%.0f MiB", k/1024}'; }
th "state" "sum of VmRSS" "sum of Pss" "per mount (RSS min / max)" "target (DESIGN.md)" "met?"
okk() { awk -v k="$1" 'BEGIN{print (k <= 1.5*1048576) ? "yes" : "**no**"}'; }
tr_ "${#PIDS[@]} views mounted, idle 10 s" "$(g "$idle_rss")" "$(g "$idle_pss")" "$(m "$idle_min") / $(m "$idle_max")" "<= 1.5 GiB in total" "$(okk "$idle_rss")"
tr_ "after a find walk in each view" "$(g "$walk_rss")" "$(g "$walk_pss")" "$(m "$walk_min") / $(m "$walk_max")" "-" "$(okk "$walk_rss")"
tr_ "after a cat of every file in view 0" "$(g "$cat_rss")" "$(g "$cat_pss")" "view 0: $(m "$one_cat")" "-" "$(okk "$cat_rss")"
tr_ "the same, idle 10 s again" "$(g "$again_rss")" "$(g "$again_pss")" "$(m "$again_min") / $(m "$again_max")" "<= 1.5 GiB in total" "$(okk "$again_rss")"
metric mem.idle_rss_kB "$idle_rss"; metric mem.walk_rss_kB "$walk_rss"; metric mem.cat_rss_kB "$cat_rss"
metric mem.again_rss_kB "$again_rss"; metric mem.idle_pss_kB "$idle_pss"; metric mem.views "${#PIDS[@]}"
md ""
th "step" "time (s)" "per view (s)"
tr_ "$MEM_VIEWS x cowfs fork" "$t_fork" "$(calc "$t_fork/$MEM_VIEWS" 3)"
tr_ "$MEM_VIEWS x cowfs mount (sequential, until it answers)" "$t_mount" "$(calc "$t_mount/$MEM_VIEWS" 3)"
tr_ "find walk in each view ($(find "$CI_SRC" | wc -l) entries each)" "$t_walk" "$(calc "$t_walk/$MEM_VIEWS" 3)"
tr_ "cat of every file in one view ($(hb "$(app_bytes "$CI_SRC")"))" "$t_cat" "-"
tr_ "$MEM_VIEWS x cowfs umount" "$t_umount" "$(calc "$t_umount/$MEM_VIEWS" 3)"
metric mem.mount_s "$t_mount"; metric mem.fork_s "$t_fork"; metric mem.walk_s "$t_walk"
note "Snapshot: \`$CI_SRC\`. Each mount is its own process (\`STORE/run/view-*.mount\` gives the pid); VmRSS from" \
     "/proc/PID/status, Pss from /proc/PID/smaps_rollup (shared pages split between processes)."
