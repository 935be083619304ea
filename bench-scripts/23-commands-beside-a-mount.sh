#!/usr/bin/env bash
# Workload 23: CLI commands on a store whose view is mounted and written (a CI runner forking
# snapshots while a job builds in a view). Every command opens the index, and an open walks the
# whole index (O(index)) unless a record names the file as it is (docs/INDEX-DAMAGE.md): each
# commit of the mount moves the file. Two builds in the same run, rounds alternating:
#   OLD_JAR=old.jar bash bench-scripts/23-commands-beside-a-mount.sh [ROUNDS]
# Per build and round, on a fresh fork of SNAP (default: tree) mounted by that build:
#   idle: 100 files of 4 KiB written into the view (a commit each), then, the view idle,
#         `cowfs list` and `cowfs fork` through the launcher (a JVM each, COWFS_NO_AGENT=1);
#   busy: a writer in the view closes a 4 KiB file every 20 ms while three `cowfs fork`s run.
# Context row: `cp -al` of the tree SNAP was imported from (what a CI uses without cowfs), warm.
# CW_STORE=... SNAP=... runs it on another store (the million-file store of 21-million-files.sh:
# CW_STORE=$BENCH_ROOT/million-store SNAP=million).
source "$(dirname "$0")/lib.sh"
require_jar
OLD_JAR=${OLD_JAR:?OLD_JAR=the build to compare with}
ROUNDS=${1:-3}
SNAP=${SNAP:-tree}
ST=${CW_STORE:-$STORE}
ensure_data
ensure_store
[[ $SNAP == tree ]] && ensure_snapshot tree "$DATA/tree"
has_name "$SNAP" || { echo "23: no snapshot $SNAP in $ST" >&2; exit 2; }
res_begin commands-beside-a-mount "CLI commands beside a mounted view that writes ($SNAP, index $(hb "$(stat -c %s "$ST/index/data.mdb")"))"

launch() { # JAR CMD... : a command through the launcher, its own JVM; prints its wall seconds
  local jar=$1 t0; shift
  t0=$(now)
  COWFS_JAR=$jar COWFS_NO_AGENT=1 "$REPO/cowfs" "$1" --store="$ST" "${@:2}" >/dev/null 2>"$TMPW/23.err" \
    || { abnormal "23: cowfs $* ($jar) failed: $(head -c 300 "$TMPW/23.err")"; echo "-"; return; }
  since "$t0"
}
for j in "$OLD_JAR" "$COWFS_JAR"; do launch "$j" list >/dev/null; launch "$j" list >/dev/null; done # train each jar's archive

declare -A LIST FORK BUSY
builds=(old new)
for ((r=0;r<ROUNDS;r++)); do
  order=("${builds[@]}"); ((r%2)) && order=(new old)
  for b in "${order[@]}"; do
    jar=$COWFS_JAR; [[ $b == old ]] && jar=$OLD_JAR
    v=$(uname_ "bm$b"); mp=$MNT/23-$v
    with_jar "$jar" cw fork "$SNAP" --name "$v" >/dev/null || { abnormal "23: fork for $b failed"; continue; }
    with_jar "$jar" mount_cowfs "$v" "$mp" || continue
    for ((i=0;i<100;i++)); do head -c 4096 /dev/urandom > "$mp/w$i"; done
    sleep 0.5
    LIST[$b]+=" $(launch "$jar" list)"
    f=$(uname_ "bf$b"); FORK[$b]+=" $(launch "$jar" fork "$SNAP" --name "$f")"; forks=("$f")
    ( i=0; while :; do head -c 4096 /dev/urandom > "$mp/busy$((i++ % 50))"; sleep 0.02; done ) &
    wpid=$!
    sleep 0.3
    for ((k=0;k<3;k++)); do f=$(uname_ "bb$b"); BUSY[$b]+=" $(launch "$jar" fork "$SNAP" --name "$f")"; forks+=("$f"); done
    kill "$wpid"; wait "$wpid" 2>/dev/null
    with_jar "$jar" umount_cowfs "$mp"; rmdir "$mp"
    for f in "${forks[@]}" "$v"; do with_jar "$jar" cw rm "$f" >/dev/null 2>&1; done
    log "round $r $b: list${LIST[$b]##* } fork${FORK[$b]##* } busy forks${BUSY[$b]}"
  done
done
src=$(fork_src 100000 2>/dev/null); [[ $SNAP == tree && -d $src ]] || src=
cpal=()
if [[ -n $src ]]; then
  warm_tree "$src"
  for ((i=0;i<3;i++)); do rm -rf "$TMPW/23-cpal"; timed t cp -al "$src" "$TMPW/23-cpal"; cpal+=("$t"); done
  rm -rf "$TMPW/23-cpal"
fi

# shellcheck disable=SC2086
med() { median $1; }
th "" "\`cowfs list\` after the view's writes, view idle (s)" "\`cowfs fork\`, view idle (s)" "\`cowfs fork\` while the view is written (s)"
tr_ "${OLD_JAR##*/}" "$(med "${LIST[old]}")" "$(med "${FORK[old]}")" "$(med "${BUSY[old]}")"
tr_ "**this build**" "$(med "${LIST[new]}")" "$(med "${FORK[new]}")" "$(med "${BUSY[new]}")"
tr_ "this build / old" "$(ratio "$(med "${LIST[new]}")" "$(med "${LIST[old]}")")" "$(ratio "$(med "${FORK[new]}")" "$(med "${FORK[old]}")")" \
    "$(ratio "$(med "${BUSY[new]}")" "$(med "${BUSY[old]}")")"
((${#cpal[@]})) && tr_ "cp -al of the tree (ext4, warm; context)" "" "$(median "${cpal[@]}")" ""
for b in old new; do metric "beside.list.$b" "$(med "${LIST[$b]}")"; metric "beside.fork.$b" "$(med "${FORK[$b]}")"; metric "beside.busy.$b" "$(med "${BUSY[$b]}")"; done
note "Medians; samples: old list${LIST[old]}, fork${FORK[old]}, busy${BUSY[old]}; new list${LIST[new]}, fork${FORK[new]}, busy${BUSY[new]}." \
     "Wall time of a command in a JVM of its own through the launcher (\`./cowfs\`, COWFS_NO_AGENT=1). $ROUNDS rounds, builds alternating."
