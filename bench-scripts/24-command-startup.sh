#!/usr/bin/env bash
# The CLI commands of a CI job's cycle (fork, mount, snapshot, show, diff, umount) as a user sees them:
# wall time of each command through the launcher, each in a JVM of its own (COWFS_NO_AGENT=1), two
# builds alternating command by command, on the bench store's 100,000-file snapshot (`tree`). `mount`
# twice: a fresh mount process (COWFS_MOUNT_SPARE=0), and the next mount served by the spare process
# the last one became. The peers' mounts for scale: kernel overlayfs and fuse-overlayfs over the
# same tree on the host. docs/STARTUP.md.
#   OLD_JAR=old-cowfs.jar [OLD_LAUNCHER=old-cowfs] bench-scripts/24-command-startup.sh [ROUNDS]     (default 5)
# OLD_LAUNCHER: that build's launcher (git show REV:cowfs > FILE; chmod +x FILE), which trains its
# CDS archive as that build did; default this repository's.
# Table: $RESULTS/command-startup.md
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot tree "$DATA/tree"
ROUNDS=${1:-5}
[[ -n ${OLD_JAR:-} && -r $OLD_JAR ]] || { echo "24-command-startup.sh: set OLD_JAR to the jar of the build to compare with" >&2; exit 2; }
res_begin command-startup "Commands of a CI job's cycle: wall time, two builds alternating"

declare -A JAR=([old]="$OLD_JAR" [new]="$COWFS_JAR")
declare -A LAUNCHER=([old]="${OLD_LAUNCHER:-$REPO/cowfs}" [new]="$REPO/cowfs")
declare -A T
# cw_ BUILD ARGS...: the launcher with that build's jar, no agent
cw_() { local b=$1; shift; COWFS_JAR="${JAR[$b]}" COWFS_NO_AGENT=1 COWFS_STORE="$STORE" "${LAUNCHER[$b]}" "$@"; }
# t KEY CMD...: appends CMD's wall seconds to T[KEY]; a failed command stops the run
t() { local k=$1 t0 rc; shift; t0=$EPOCHREALTIME; "$@" >/dev/null 2>"$TMPW/cs.err"; rc=$?
      ((rc == 0)) || { abnormal "$k failed ($rc): $(head -c 300 "$TMPW/cs.err")"; exit 1; }
      T[$k]+="$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.3f", b-a}') "; }
for b in old new; do cw_ "$b" list >/dev/null || { abnormal "$b: list failed"; exit 1; }; done   # each jar's CDS archive made now
mkdir -p "$MNT/cs"
for ((r = 1; r <= ROUNDS; r++)); do
  order=(old new); ((r % 2 == 0)) && order=(new old)
  for b in "${order[@]}"; do
    v=$(uname_ cs)
    t "$b.fork" cw_ "$b" fork tree --name "$v"
    t "$b.mountfresh" env COWFS_MOUNT_SPARE=0 COWFS_JAR="${JAR[$b]}" COWFS_NO_AGENT=1 COWFS_STORE="$STORE" "${LAUNCHER[$b]}" mount "$v" "$MNT/cs"
    track_mount "cowfs:$STORE" "$MNT/cs"
    echo "round $r" > "$MNT/cs/d000/new-file" || { abnormal "$b: write into the view failed"; exit 1; }
    t "$b.umount" cw_ "$b" umount "$MNT/cs"
    # a spare of this build: a mount with spares on, unmounted; its process waits for the next mount
    { cw_ "$b" mount "$v" "$MNT/cs" && cw_ "$b" umount "$MNT/cs"; } >/dev/null || { abnormal "$b: mount with spares failed"; exit 1; }
    t "$b.mountspare" cw_ "$b" mount "$v" "$MNT/cs"
    t "$b.snapshot" cw_ "$b" snapshot "$v" --name "$v-s"
    t "$b.show" cw_ "$b" show "$v-s"
    t "$b.diff" cw_ "$b" diff tree "$v-s"
    cw_ "$b" umount "$MNT/cs" >/dev/null
    cw_ "$b" rm "$v" "$v-s" >/dev/null
  done
  # the peers' mounts of the same tree on the host, for scale
  fresh_dir "$TMPW/cs-upper" && fresh_dir "$TMPW/cs-work" && mkdir -p "$MNT/cs-ovl"
  t ovl.mount mount -t overlay overlay -o "lowerdir=$DATA/tree,upperdir=$TMPW/cs-upper,workdir=$TMPW/cs-work" "$MNT/cs-ovl"
  umount "$MNT/cs-ovl"
  fresh_dir "$TMPW/cs-upper" && fresh_dir "$TMPW/cs-work"
  t fovl.mount fuse-overlayfs -o "lowerdir=$DATA/tree,upperdir=$TMPW/cs-upper,workdir=$TMPW/cs-work" "$MNT/cs-ovl"
  fusermount3 -u "$MNT/cs-ovl" 2>/dev/null || umount "$MNT/cs-ovl"
  log "round $r done"
done

med() { printf '%s\n' $1 | sort -g | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
rng() { printf '%s\n' $1 | sort -g | awk 'NR==1{lo=$1} {hi=$1} END{print lo "-" hi}'; }
th "command" "old build, s (median; range)" "this build, s" "this / old"
for c in fork mountfresh mountspare umount snapshot show diff; do
  o=$(med "${T[old.$c]}"); n=$(med "${T[new.$c]}")
  label=$c; [[ $c == mountfresh ]] && label="mount, a fresh mount process"; [[ $c == mountspare ]] && label="mount, served by a spare process"
  [[ $c == umount ]] && label="umount (one file written)"
  tr_ "$label" "$o ($(rng "${T[old.$c]}"))" "$n ($(rng "${T[new.$c]}"))" "$(ratio "$n" "$o")"
done
tr_ "kernel overlayfs mount (peer)" "$(med "${T[ovl.mount]}")" "-" "-"
tr_ "fuse-overlayfs mount (peer)" "$(med "${T[fovl.mount]}")" "-" "-"
note "$ROUNDS rounds, builds alternating; old: $OLD_JAR (launcher ${LAUNCHER[old]}), new: $COWFS_JAR. Each command through the launcher (its CDS archive made before the first round), no agent. The view is a fresh fork of tree (100,000 files) with one file written. The peers' mount commands are there for scale: they start no JVM."

