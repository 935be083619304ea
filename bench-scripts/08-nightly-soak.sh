#!/usr/bin/env bash
# Workload 8: nightly soak. An endurance loop shaped like a nightly CI run, to show that the store's
# size stays bounded and that fsck stays clean. Every round:
#   1. the source tree (a git clone of this repository + a slice of /usr/share/doc) changes a little:
#      EDITS files edited (a line inserted; in the clone's work tree and in the doc slice), ADDS files of
#      2-16 KiB added, REMOVES removed (the oldest added ones once 10 rounds' worth exist): its size
#      stays about the same, so a growing store is cowfs's doing, not the source's;
#   2. it is imported as snapshot rev-R; VIEWS views job-R-a, job-R-b, ... are forked and mounted;
#   3. the jobs write: a few MiB of unique data and an in-view cp (a), many small appends (b),
#      git status/edit/commit in the clone (c); a long-lived `cache` view (mounted for the whole run;
#      CACHE_VIEW=0 leaves it out) gets a new object, loses the one from KEEP rounds ago and has its
#      manifest rewritten by rename;
#   4. every CRASH_EVERY rounds a writer writes into job-R-b with fsync and the mount process is
#      killed with SIGKILL: the dead mount is cleared (`cowfs umount`), mounted again, and every
#      fsynced byte must be there (and the files closed before the crash);
#   5. job-R-a, job-R-c (and job-R-b after a crash) and the cache view are frozen (snapshots res-R-*,
#      cache-R) while mounted; the jobs' views are unmounted;
#   6. names of rounds older than the last KEEP are removed, `cowfs gc --json` runs while a writer
#      appends (with fsync) to the cache view, and the written lines are checked afterwards;
#   7. every FSCK_EVERY rounds and after the last one, `cowfs fsck` must exit 0 (crash leftovers are
#      reported as NOTE lines, which is fine).
# After the loop the cache view is unmounted, and gc and fsck run once more with nothing mounted.
# One CSV line per round: results/soak.csv; summary and per-round table: results/soak.md.
# The size (packs + index/data.mdb) after round BASE_ROUND is compared with the size after the last
# round: the run fails (exit 1) if it grew by more than BOUND_PCT %, if an fsck failed, or if anything
# else went wrong (a failed command, lost fsynced data, a hang). The CSV also has the bytes of the packs
# live mount processes are appending to (gc never compacts those: dead records in the cache view's pack
# stay until its mount process rolls over to a new pack at 64 MiB or exits), and the summary gives the
# size without them and the size after the final gc.
#
# Environment (defaults in brackets):
#   ROUNDS [30]  KEEP [3]  VIEWS [3]  FSCK_EVERY [5]  CRASH_EVERY [5, 0 = never]  BASE_ROUND [5]
#   BOUND_PCT [10]  WRITE_MB [3] (unique data per round in job a)  CACHE_VIEW [1]  CACHE_KB [512]  DOC_MB [24]
#   EDITS [5] ADDS [3] REMOVES [3] (source changes per round)
#   COWFS        the command to run the CLI (word-split) [the repository's ./cowfs launcher]; e.g.
#                COWFS="java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED
#                --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp cli/target/cowfs.jar io.cowfs.cli.Main"
#   SOAK_DIR     work directory (store, source, mountpoints) [a new mktemp -d under $TMPDIR or /tmp];
#                removed at the end of a successful run unless KEEP_WORK=1, kept (and named) otherwise
#   --quick      ROUNDS=6, results to results/quick/
set -uo pipefail
_quick=0; for _a in "$@"; do [[ $_a == --quick ]] && _quick=1; done
SOAK_DIR=${SOAK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/cowfs-soak.XXXXXX")}
export BENCH_ROOT=$SOAK_DIR
source "$(dirname "$0")/lib.sh"

if [[ $_quick == 1 ]]; then ROUNDS=${ROUNDS:-6}; else ROUNDS=${ROUNDS:-30}; fi
KEEP=${KEEP:-3}; VIEWS=${VIEWS:-3}; FSCK_EVERY=${FSCK_EVERY:-5}; CRASH_EVERY=${CRASH_EVERY:-5}
BASE_ROUND=${BASE_ROUND:-5}; BOUND_PCT=${BOUND_PCT:-10}; WRITE_MB=${WRITE_MB:-3}; CACHE_KB=${CACHE_KB:-512}; CACHE_VIEW=${CACHE_VIEW:-1}
DOC_MB=${DOC_MB:-24}; EDITS=${EDITS:-5}; ADDS=${ADDS:-3}; REMOVES=${REMOVES:-3}
(( VIEWS >= 3 )) || { echo "VIEWS must be >= 3" >&2; exit 2; }
(( BASE_ROUND <= ROUNDS )) || BASE_ROUND=$ROUNDS

if [[ -n ${COWFS:-} ]]; then read -ra COWFS_CMD <<<"$COWFS"; else COWFS_CMD=("$REPO/cowfs"); fi
CSV=$RESULTS/soak.csv
SRC=$SOAK_DIR/src
EVID=$SOAK_DIR/evidence
LOGD=$SOAK_DIR/logs
mkdir -p "$SRC" "$EVID" "$LOGD"
ANOM_FILE=$SOAK_DIR/anomalies.txt; : > "$ANOM_FILE"
TO=${CMD_TIMEOUT:-600}   # seconds before a cowfs command counts as hung

anomaly() { log "ANOMALY: $*"; printf -- '- round %s: %s\n' "${R:-0}" "$*" >> "$ANOM_FILE"; }
# evidence NAME: thread dumps of every cowfs java process on this store (mounts included), for a hang
evidence() {
  local p f=$EVID/$1-$(date +%H%M%S).txt
  { date; ps -eo pid,stat,etime,args | grep -F -- "--store=$STORE" | grep -v grep; } > "$f"
  for p in $(pgrep -f -- "io.cowfs.cli.Main .*--store=$STORE"); do
    { echo "=== pid $p: $(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null)"; timeout 20 jcmd "$p" Thread.print 2>&1; } >> "$f"
  done
  log "evidence saved in $f"
}
# c STEP CMD ARGS... : cowfs CMD on the soak store with a timeout; output appended to logs/round-R.log;
# a failure (or a timeout, with thread dumps) is an anomaly. Returns the command's status.
c() {
  local step=$1; shift
  local rc
  { echo "\$ cowfs $*"; } >> "$LOGD/round-$RR.log"
  timeout "$TO" "${COWFS_CMD[@]}" "$1" --store="$STORE" "${@:2}" >> "$LOGD/round-$RR.log" 2>&1; rc=$?
  if (( rc == 124 )); then anomaly "$step: 'cowfs $*' did not finish within $TO s"; evidence "hang-$step"
  elif (( rc != 0 )); then anomaly "$step: 'cowfs $*' exited $rc (see logs/round-$RR.log: $(tail -1 "$LOGD/round-$RR.log"))"; fi
  return $rc
}
# cj CMD ARGS... : like c, stdout returned (stderr to the round log)
cj() { timeout "$TO" "${COWFS_CMD[@]}" "$1" --store="$STORE" "${@:2}" 2>> "$LOGD/round-$RR.log"; }

BG_PIDS=()
soak_cleanup() {
  local p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  unmount_all
  # anything still mounted under the work dir (a mount a failed command left behind)
  for p in $(findmnt -rn -o TARGET | grep -F "$SOAK_DIR/" | sort -r); do
    "${COWFS_CMD[@]}" umount --store="$STORE" "$p" >/dev/null 2>&1 || fusermount -u "$p" 2>/dev/null || umount -l "$p"
  done
  if [[ ${SOAK_OK:-0} == 1 && ${KEEP_WORK:-0} != 1 ]]; then
    rm -rf --one-file-system "$SOAK_DIR"
  else
    log "work directory kept: $SOAK_DIR (store, logs/, evidence/)"
  fi
}
trap soak_cleanup EXIT

# ---------------------------------------------------------------- the source tree
log "preparing the source tree in $SRC"
git clone -q --no-hardlinks "$REPO" "$SRC/repo" || { echo "git clone $REPO failed" >&2; exit 1; }
mkdir -p "$SRC/doc"
_t=0
for d in /usr/share/doc/*; do
  cp -a "$d" "$SRC/doc/" 2>/dev/null
  _t=$(( _t + $(du -sb "$d" | cut -f1) ))
  (( _t >= DOC_MB * 1048576 )) && break
done
SRC_FILES0=$(find "$SRC" -type f | wc -l); SRC_BYTES0=$(app_bytes "$SRC")

# mutate ROUND: EDITS edits (a line inserted; alternately in the clone's work tree and in doc), ADDS new
# files of 2-16 KiB, REMOVES removals: the oldest added files once more than 10 rounds' worth exist,
# random doc files before that. The tree's size stays about constant (nothing is committed in the clone).
mutate() {
  python3 - "$SRC" "$1" "$EDITS" "$ADDS" "$REMOVES" <<'EOF'
import os, sys, random, base64
src, rnd, edits, adds, removes = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = random.Random(rnd * 7919)
added_dir = os.path.join(src, 'doc', 'soak-added')
def files(top, skip):
    out = []
    for d, dirs, fs in os.walk(top):
        for x in skip:
            if x in dirs:
                dirs.remove(x)
        dirs.sort()
        for f in sorted(fs):
            p = os.path.join(d, f)
            if os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out
repo = [p for p in files(os.path.join(src, 'repo'), ['.git']) if p.endswith(('.java', '.md', '.sh', '.xml'))]
doc = files(os.path.join(src, 'doc'), ['soak-added'])
for i in range(edits):
    p = rng.choice(repo if i % 2 == 0 else doc)
    with open(p, 'rb') as fh:
        lines = fh.read().split(b'\n')
    at = rng.randrange(len(lines) + 1)
    lines.insert(at, b'soak round %d edit %d' % (rnd, i))
    with open(p, 'wb') as fh:
        fh.write(b'\n'.join(lines))
os.makedirs(added_dir, exist_ok=True)
for i in range(adds):
    n = rng.randrange(2048, 16 * 1024)
    with open(os.path.join(added_dir, 'r%04d-%d.txt' % (rnd, i)), 'wb') as fh:
        fh.write(base64.b64encode(rng.randbytes(n * 3 // 4)))
added = sorted(os.listdir(added_dir))
for i in range(removes):
    if len(added) > 10 * adds:
        os.unlink(os.path.join(added_dir, added.pop(0)))
    else:
        p = rng.choice(doc)
        doc.remove(p)
        os.unlink(p)
EOF
}

# ---------------------------------------------------------------- helpers for the jobs
rid() { printf '%04d' "$1"; }
LETTERS=(a b c d e f g h i j k l m n o p q r s t u v w x y z)
view_mp() { echo "$MNT/$1"; }
# store size parts
packs_bytes() { du -sb "$STORE/packs" | cut -f1; }
index_bytes() { stat -c %s "$STORE/index/data.mdb"; }
names_json() { cj list --json; }
# bytes of the packs live mount processes hold open for writing (gc never compacts those), and their count
writer_packs() {
  local f p fd t sz=0 n=0
  declare -A seen=()
  for f in "$STORE"/run/view-*.mount; do
    [[ -f $f ]] || continue
    p=$(sed -n 's/^pid=//p' "$f")
    for fd in /proc/$p/fd/*; do
      [[ $(stat -c %A "$fd" 2>/dev/null) == l?w* ]] || continue
      t=$(readlink "$fd" 2>/dev/null) || continue
      [[ $t == "$STORE/packs/"*.pack && -z ${seen[$t]:-} ]] || continue
      seen[$t]=1; sz=$(( sz + $(stat -c %s "$t" 2>/dev/null || echo 0) )); n=$((n+1))
    done
  done
  echo "$sz $n"
}

# crash_test VIEW MP: a writer writes 64 KiB blocks with an fsync every 4; the mount process gets
# SIGKILL while it writes; the dead mount is cleared and mounted again; every fsynced block and the
# files closed before must read back. Sets CRASH (for the CSV).
crash_test() {
  local v=$1 mp=$2 prog=$SOAK_DIR/crash-progress-$RR pid wpid n t0 logsum
  logsum=$(md5sum < "$mp/test.log")
  pid=$(cowfs_pid "$mp") || { anomaly "crash: no mount process found for $mp"; CRASH=nopid; return 1; }
  : > "$prog"
  python3 - "$mp/crash.bin" "$prog" <<'EOF' >> "$LOGD/round-$RR.log" 2>&1 &
import os, sys, random, time
path, prog = sys.argv[1], sys.argv[2]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n = 0
try:
    while n < 4096:                       # at most 256 MiB
        os.write(fd, random.Random(n).randbytes(65536))
        n += 1
        time.sleep(0.01)                  # <= ~6 MiB/s: the kill lands after a few MiB, not tens
        if n % 4 == 0:
            os.fsync(fd)
            with open(prog, 'w') as p:
                p.write('%d\n' % n)
except OSError as e:
    print('crash writer stopped after %d blocks: %s' % (n, e))
    sys.exit(0)
print('crash writer was never stopped (%d blocks)' % n)
sys.exit(3)
EOF
  wpid=$!; BG_PIDS+=("$wpid")
  # wait until at least 1 MiB is fsynced, then a little more so that the kill lands mid-write
  t0=$EPOCHREALTIME
  while (( $(cat "$prog" 2>/dev/null || echo 0) + 0 < 16 )); do
    if ! kill -0 "$wpid" 2>/dev/null; then break; fi
    if (( $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{print (b-a>120)}') )); then anomaly "crash: writer fsynced < 1 MiB in 120 s"; evidence crash-slow; break; fi
    sleep 0.05
  done
  sleep "0.$(( RANDOM % 4 + 1 ))"
  kill -9 "$pid"
  log "  round $R: killed mount process $pid of $v while the writer had fsynced $(cat "$prog") blocks"
  # the writer must stop (ENOTCONN) rather than hang
  for ((t=0; t<600; t++)); do kill -0 "$wpid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$wpid" 2>/dev/null; then anomaly "crash: the writer still runs 60 s after the mount process was killed"; evidence crash-writer-hang; kill -9 "$wpid"; fi
  wait "$wpid" 2>/dev/null
  n=$(cat "$prog" 2>/dev/null); n=${n:-0}
  # clear the dead mount, mount again
  echo "\$ cowfs umount $mp (dead mount)" >> "$LOGD/round-$RR.log"
  if ! timeout "$TO" "${COWFS_CMD[@]}" umount --store="$STORE" "$mp" >> "$LOGD/round-$RR.log" 2>&1; then
    anomaly "crash: cowfs umount of the dead mount $mp failed"; fusermount -u "$mp" 2>/dev/null || umount -l "$mp"
  fi
  untrack_mount "$mp"
  if ! mount_view "$v" "$mp"; then CRASH=remount-failed; return 1; fi
  # every fsynced block must be there
  if ! python3 - "$mp/crash.bin" "$n" <<'EOF' >> "$LOGD/round-$RR.log" 2>&1
import os, sys, random
path, n = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(path)
if size < n * 65536:
    print('LOST: %s has %d bytes, %d blocks (%d bytes) were fsynced' % (path, size, n, n * 65536)); sys.exit(1)
with open(path, 'rb') as fh:
    for i in range(n):
        if fh.read(65536) != random.Random(i).randbytes(65536):
            print('WRONG: block %d of %s differs' % (i, path)); sys.exit(1)
    rest = size - n * 65536
    print('crash.bin: %d fsynced blocks intact, %d more bytes after them' % (n, rest))
EOF
  then anomaly "crash: fsynced data lost or wrong after kill -9 + remount (see logs/round-$RR.log)"; CRASH=LOST; return 1; fi
  if [[ $(md5sum < "$mp/test.log") != "$logsum" ]]; then anomaly "crash: test.log (closed before the crash) changed"; CRASH=LOST; return 1; fi
  CRASH="ok:$n"
}

mount_view() { # NAME MP
  mkdir -p "$2"
  echo "\$ cowfs mount $1 $2" >> "$LOGD/round-$RR.log"
  if ! timeout "$TO" "${COWFS_CMD[@]}" mount --store="$STORE" "$1" "$2" >> "$LOGD/round-$RR.log" 2>&1; then
    anomaly "mount of $1 at $2 failed (log: STORE/run/$1.log: $(tail -1 "$STORE/run/$1.log" 2>/dev/null))"
    cp "$STORE/run/$1.log" "$EVID/" 2>/dev/null
    is_mounted "$2" && fusermount -u "$2" 2>/dev/null
    return 1
  fi
  track_mount "cowfs:$STORE" "$2"
}
umount_view() { # MP
  echo "\$ cowfs umount $1" >> "$LOGD/round-$RR.log"
  is_mounted "$1" || { untrack_mount "$1"; return 0; }
  if ! timeout "$TO" "${COWFS_CMD[@]}" umount --store="$STORE" "$1" >> "$LOGD/round-$RR.log" 2>&1; then
    anomaly "umount of $1 failed or took > $TO s"; evidence umount
    fusermount -u "$1" 2>/dev/null || umount -l "$1"
  fi
  untrack_mount "$1"
}
# a background writer appending numbered lines (fsync every 10) to FILE until STOPFILE exists
bg_appender() { # FILE STOPFILE COUNTFILE
  python3 - "$@" <<'EOF'
import os, sys
path, stop, cnt = sys.argv[1:4]
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
n = 0
try:
    while not os.path.exists(stop) and n < 200000:
        os.write(fd, b'line %08d of the concurrent writer ........................................\n' % n)
        n += 1
        if n % 10 == 0:
            os.fsync(fd)
    os.fsync(fd)
    os.close(fd)
finally:
    open(cnt, 'w').write('%d\n' % n)
EOF
}

# ---------------------------------------------------------------- run
RR=0000; R=0
rm -f "$CSV"
echo "round,packs_bytes,index_bytes,names,gc_freed_bytes,fsck,seconds,size_bytes,pack_files,index_du_bytes,gc_s,import_s,crash,load1,writer_pack_bytes" > "$CSV"
c init init >/dev/null || exit 1
c import0 import "$SRC" --name rev-0000 >/dev/null || exit 1
CACHE_MP=$(view_mp cache)
if [[ $CACHE_VIEW == 1 ]]; then
  c fork0 fork rev-0000 --name cache >/dev/null || exit 1
  mount_view cache "$CACHE_MP" || exit 1
  mkdir -p "$CACHE_MP/objs"
fi
log "soak: $ROUNDS rounds, keep $KEEP, $VIEWS views, fsck every $FSCK_EVERY, crash every $CRASH_EVERY; source $SRC_FILES0 files, $(hb "$SRC_BYTES0"); work dir $SOAK_DIR"
T_RUN=$EPOCHREALTIME
declare -A SIZE
FSCK_FAIL=0; FSCK_RUNS=0; FSCK_NOTES=0; CRASHES=0; CRASH_OK=0
for ((R=1; R<=ROUNDS; R++)); do
  RR=$(rid "$R"); T_R=$EPOCHREALTIME; CRASH=-; FSCK=-; GC_FREED=-; GC_S=-; IMP_S=-
  mutate "$R" >> "$LOGD/round-$RR.log" 2>&1 || anomaly "changing the source tree failed"
  # --- import, fork, mount
  t=$EPOCHREALTIME
  c import import "$SRC" --name "rev-$RR" >/dev/null
  IMP_S=$(since "$t")
  MPS=()
  for ((i=0; i<VIEWS; i++)); do
    v=job-$RR-${LETTERS[$i]}; mp=$(view_mp "$v")
    if c fork fork "rev-$RR" --name "$v" >/dev/null && mount_view "$v" "$mp"; then MPS+=("$mp"); else MPS+=(""); fi
  done
  # --- the jobs write
  a=${MPS[0]}; b=${MPS[1]}; cc=${MPS[2]}
  if [[ -n $a ]]; then   # build job: unique data, an in-view copy, a rename of a directory
    timeout 300 bash -c '
      set -e; mkdir -p "$1/out"
      head -c $(( $2 * 1048576 )) /dev/urandom > "$1/out/artifact.bin"
      cp -a "$1/repo/docs" "$1/out/docs-copy"
      mv "$1/out/docs-copy" "$1/out/docs-final"
      for i in $(seq 1 50); do echo "build step $i" >> "$1/out/build.log"; done
      sync "$1/out/artifact.bin"
      cmp -s "$1/repo/docs/GC.md" "$1/out/docs-final/GC.md"' _ "$a" "$WRITE_MB" >> "$LOGD/round-$RR.log" 2>&1 \
      || anomaly "job a: writing into $a failed (see logs/round-$RR.log)"
  fi
  if [[ -n $b ]]; then   # test job: many small appends (each one open/append/close)
    timeout 300 bash -c 'set -e; for i in $(seq 1 200); do echo "test $i passed in round $2" >> "$1/test.log"; done
      [[ $(wc -l < "$1/test.log") == 200 ]]' _ "$b" "$R" >> "$LOGD/round-$RR.log" 2>&1 \
      || anomaly "job b: appending to $b/test.log failed or lost lines"
    if (( CRASH_EVERY > 0 && R % CRASH_EVERY == 0 )); then
      CRASHES=$((CRASHES+1))
      crash_test "job-$RR-b" "$b" && CRASH_OK=$((CRASH_OK+1))
      is_mounted "$b" || MPS[1]=""
    fi
  fi
  if [[ -n $cc ]]; then  # developer job: git status, small edits (sed -i: save by rename), commit
    timeout 300 bash -c '
      set -e; cd "$1/repo"
      git status --porcelain > /dev/null
      for f in README.md docs/GC.md pom.xml; do sed -i "1s/\$/ /" "$f"; done
      echo "round $2" >> bench-scripts/README.md
      git add -A && git -c user.name=ci -c user.email=ci@localhost commit -q -m "job c, round $2"
      [[ -z $(git status --porcelain) ]]' _ "$cc" "$R" >> "$LOGD/round-$RR.log" 2>&1 \
      || anomaly "job c: git in $cc failed (see logs/round-$RR.log)"
  fi
  # --- the long-lived cache view: a new object, the one of KEEP rounds ago goes, manifest by rename
  if [[ $CACHE_VIEW != 1 ]]; then
    :
  elif is_mounted "$CACHE_MP"; then
    timeout 120 bash -c '
      set -e; head -c $(( $2 * 1024 )) /dev/urandom > "$1/objs/obj-$3.bin"
      rm -f "$1/objs/obj-$4.bin"
      ls "$1/objs" > "$1/manifest.tmp" && mv "$1/manifest.tmp" "$1/manifest"' \
      _ "$CACHE_MP" "$CACHE_KB" "$RR" "$(rid $((R-KEEP)))" >> "$LOGD/round-$RR.log" 2>&1 \
      || anomaly "cache view: writing failed"
  else
    anomaly "the cache view is not mounted any more"
    mount_view cache "$CACHE_MP"
  fi
  # --- freeze, end of the jobs
  [[ -n ${MPS[0]} ]] && c snapshot snapshot "job-$RR-a" --name "res-$RR-a" >/dev/null
  [[ -n ${MPS[2]} ]] && c snapshot snapshot "job-$RR-c" --name "res-$RR-c" >/dev/null
  [[ $CRASH == ok:* ]] && c snapshot snapshot "job-$RR-b" --name "res-$RR-b" >/dev/null
  [[ $CACHE_VIEW == 1 ]] && c snapshot snapshot cache --name "cache-$RR" >/dev/null
  for mp in "${MPS[@]}"; do [[ -n $mp ]] && umount_view "$mp"; done
  # --- retention: every name of a round older than the last KEEP
  old=$(names_json | grep -o '"name" : "[^"]*"' | sed 's/.*: "//; s/"$//' \
        | awk -v lim=$((R-KEEP)) '{ if (match($0, /-[0-9][0-9][0-9][0-9]/) && substr($0, RSTART+1, 4)+0 <= lim) print }')
  if [[ -n $old ]]; then
    # shellcheck disable=SC2086
    c rm rm $old >/dev/null
  fi
  # --- gc, with a writer appending to the cache view meanwhile
  stop=$SOAK_DIR/stop-$RR; cnt=$SOAK_DIR/count-$RR; rm -f "$stop" "$cnt"; bgp=
  if [[ $CACHE_VIEW == 1 ]] && is_mounted "$CACHE_MP"; then
    bg_appender "$CACHE_MP/concurrent.log" "$stop" "$cnt" >> "$LOGD/round-$RR.log" 2>&1 &
    bgp=$!; BG_PIDS+=("$bgp")
  fi
  t=$EPOCHREALTIME
  gcj=$(cj gc --json); gcrc=$?
  GC_S=$(since "$t")
  echo "$gcj" >> "$LOGD/round-$RR.log"
  if (( gcrc != 0 )); then anomaly "gc exited $gcrc (see logs/round-$RR.log)"; (( gcrc == 124 )) && evidence gc-hang
  else GC_FREED=$(json_field "$gcj" freedBytes); fi
  touch "$stop"; [[ -n $bgp ]] && wait "$bgp"
  n=$(cat "$cnt" 2>/dev/null)
  if [[ -z $bgp ]]; then
    :
  elif [[ -z $n ]] || [[ $(wc -l < "$CACHE_MP/concurrent.log") != "$n" ]] \
     || ! awk -v n="$n" '$2 != sprintf("%08d", NR-1) {bad=1} END{exit (bad || NR != n) ? 1 : 0}' "$CACHE_MP/concurrent.log"; then
    anomaly "the writer running during gc lost or mangled lines (wrote ${n:-?}, read $(wc -l < "$CACHE_MP/concurrent.log"))"
  fi
  # --- fsck
  if (( R % FSCK_EVERY == 0 || R == ROUNDS )); then
    FSCK_RUNS=$((FSCK_RUNS+1))
    fout=$(cj fsck 2>&1); frc=$?
    { echo "\$ cowfs fsck"; echo "$fout"; echo "exit $frc"; } >> "$LOGD/round-$RR.log"
    notes=$(grep -c '^NOTE' <<<"$fout")
    if (( frc == 0 )); then FSCK=ok; (( notes > 0 )) && FSCK="ok+${notes}notes"; FSCK_NOTES=$((FSCK_NOTES+notes))
    else FSCK="FAIL:$frc"; FSCK_FAIL=$((FSCK_FAIL+1)); anomaly "fsck exited $frc: $(grep -v '^NOTE' <<<"$fout" | head -5 | tr '\n' ' ')"
      printf '%s\n' "$fout" > "$EVID/fsck-round-$RR.txt"; cp -a "$STORE/run" "$EVID/run-round-$RR" 2>/dev/null; fi
  fi
  # --- measure
  sync
  pb=$(packs_bytes); ib=$(index_bytes); SIZE[$R]=$((pb + ib))
  nn=$(names_json | grep -c '"name" :')
  pf=$(find "$STORE/packs" -name '*.pack' | wc -l)
  idu=$(du -s --block-size=1 "$STORE/index/data.mdb" | cut -f1)
  read -r wpb _ <<<"$(writer_packs)"
  secs=$(since "$T_R")
  echo "$R,$pb,$ib,$nn,$GC_FREED,$FSCK,$secs,${SIZE[$R]},$pf,$idu,$GC_S,$IMP_S,$CRASH,$(cut -d' ' -f1 /proc/loadavg),$wpb" >> "$CSV"
  log "round $R/$ROUNDS: size $(hb "${SIZE[$R]}") (packs $(hb "$pb") in $pf files, $(hb "$wpb") of them in packs a live mount appends to, index $(hb "$ib")), $nn names, gc freed $([[ $GC_FREED == - ]] && echo - || hb "$GC_FREED"), fsck $FSCK, crash $CRASH, $(printf '%.1f' "$secs") s"
done
T_TOTAL=$(since "$T_RUN")
R=end
RR=final
[[ $CACHE_VIEW == 1 ]] && umount_view "$CACHE_MP"
# a last gc and fsck with nothing mounted
gcj=$(cj gc --json) || anomaly "final gc failed"
{ echo "\$ cowfs gc --json (nothing mounted)"; echo "$gcj"; } >> "$LOGD/round-final.log"
FINAL_FREED=$(json_field "$gcj" freedBytes)
FINAL_SIZE=$(( $(packs_bytes) + $(index_bytes) )); FINAL_PF=$(find "$STORE/packs" -name '*.pack' | wc -l)
fout=$(cj fsck 2>&1); frc=$?
{ echo "\$ cowfs fsck (nothing mounted)"; echo "$fout"; echo "exit $frc"; } >> "$LOGD/round-final.log"
FINAL_FSCK=$( (( frc == 0 )) && echo "exit 0: $(tail -1 <<<"$fout")" || echo "FAIL exit $frc: $(tail -1 <<<"$fout")")
(( frc == 0 )) || { FSCK_FAIL=$((FSCK_FAIL+1)); anomaly "final fsck exited $frc"; printf '%s\n' "$fout" > "$EVID/fsck-final.txt"; }

# ---------------------------------------------------------------- summary
base=${SIZE[$BASE_ROUND]:-0}; last=${SIZE[$ROUNDS]:-0}
xbase=$(awk -F, -v r="$BASE_ROUND" '$1==r {print $8-$15}' "$CSV"); xlast=$(awk -F, -v r="$ROUNDS" '$1==r {print $8-$15}' "$CSV")
xgrowth=$(awk -v a="${xbase:-0}" -v b="${xlast:-0}" 'BEGIN{ if (a>0) printf "%.1f", (b-a)*100/a; else print "nan" }')
growth=$(awk -v a="$base" -v b="$last" 'BEGIN{ if (a>0) printf "%.1f", (b-a)*100/a; else print "nan" }')
bounded=$(awk -v a="$base" -v b="$last" -v p="$BOUND_PCT" 'BEGIN{ print (a>0 && b <= a*(1+p/100)) ? 1 : 0 }')
(( bounded )) || anomaly "store size grew from $(hb "$base") after round $BASE_ROUND to $(hb "$last") after round $ROUNDS ($growth %, bound $BOUND_PCT %)"
smin=$(awk -F, -v b="$BASE_ROUND" 'NR>1 && $1>=b {print $8}' "$CSV" | sort -g | head -1)
smax=$(awk -F, -v b="$BASE_ROUND" 'NR>1 && $1>=b {print $8}' "$CSV" | sort -g | tail -1)
secs_all=$(awk -F, 'NR>1 {print $7}' "$CSV")
# shellcheck disable=SC2086
tmed=$(printf '%.1f' "$(median $secs_all)")
tmin=$(sort -g <<<"$secs_all" | head -1 | xargs printf '%.1f'); tmax=$(sort -g <<<"$secs_all" | tail -1 | xargs printf '%.1f')
tavg=$(awk '{s+=$1} END{ if (NR) printf "%.1f", s/NR }' <<<"$secs_all")

RES_MD=$RESULTS/soak.md
{
  echo "# Nightly soak: $ROUNDS rounds of import / fork / mount / write / snapshot / rm / gc / fsck"
  echo
  echo "_$(date -u '+%Y-%m-%d %H:%M UTC'), cowfs $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), load average at the end: $(cut -d' ' -f1-3 /proc/loadavg), total $(printf '%.0f' "$T_TOTAL") s_"
  echo
  echo "Source: a git clone of this repository + $(hb "$_t") of \`/usr/share/doc\` ($SRC_FILES0 files, $(hb "$SRC_BYTES0") at the start,"
  echo "$(find "$SRC" -type f | wc -l) files, $(hb "$(app_bytes "$SRC")") at the end); per round $EDITS edits, $ADDS files added, $REMOVES removed."
  echo "$VIEWS views per round, $WRITE_MB MiB of unique data in job a, $( [[ $CACHE_VIEW == 1 ]] && echo "a long-lived cache view ($CACHE_KB KiB object per round)" || echo "no long-lived view"), retention $KEEP rounds,"
  echo "fsck every $FSCK_EVERY rounds and at the end, kill -9 of a mount process during an fsync'ing write every $CRASH_EVERY rounds."
  echo "Raw numbers: \`soak.csv\` (one line per round; size = packs + index/data.mdb)."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| size after round $BASE_ROUND | $(hb "$base") |"
  echo "| size after round $ROUNDS | $(hb "$last") ($growth %, bound $BOUND_PCT %: $( (( bounded )) && echo '**bounded**' || echo '**NOT bounded**')) |"
  echo "| min / max size from round $BASE_ROUND on | $(hb "${smin:-0}") / $(hb "${smax:-0}") |"
  echo "| same without the packs live mounts append to (column writer_pack_bytes; gc leaves them alone) | $(hb "$xbase") -> $(hb "$xlast") ($xgrowth %) |"
  echo "| after a final gc with nothing mounted | $(hb "$FINAL_SIZE") (freed $(hb "${FINAL_FREED:-0}")), $FINAL_PF pack files |"
  echo "| pack files after round $BASE_ROUND / after round $ROUNDS | $(awk -F, -v r="$BASE_ROUND" '$1==r {print $9}' "$CSV") / $(awk -F, -v r="$ROUNDS" '$1==r {print $9}' "$CSV") |"
  echo "| index/data.mdb after round $BASE_ROUND / after round $ROUNDS | $(hb "$(awk -F, -v r="$BASE_ROUND" '$1==r {print $3}' "$CSV")") / $(hb "$(awk -F, -v r="$ROUNDS" '$1==r {print $3}' "$CSV")") |"
  echo "| fsck | $FSCK_RUNS runs during the loop + 1 at the end, $FSCK_FAIL failed, $FSCK_NOTES crash-leftover NOTE lines; final (nothing mounted): $FINAL_FSCK |"
  echo "| kill -9 of a mount during an fsync'ing write | $CRASHES, $CRASH_OK with every fsynced block and closed file intact after remount |"
  echo "| seconds per round | median $tmed, min $tmin, max $tmax, mean $tavg |"
  echo
  if [[ -s $ANOM_FILE ]]; then echo "Anomalies:"; echo; cat "$ANOM_FILE"; else echo "No anomaly: every command succeeded and every check passed."; fi
  echo
  echo "| round | packs | of which in packs live mounts append to | index | names | gc freed | fsck | crash | s |"
  echo "|---|---|---|---|---|---|---|---|---|"
  awk -F, 'NR>1 {printf "| %s | %.1f MiB (%s files) | %.1f MiB | %.1f MiB | %s | %s | %s | %s | %.1f |\n", $1, $2/1048576, $9, $15/1048576, $3/1048576, $4, ($5=="-"?"-":sprintf("%.1f MiB", $5/1048576)), $6, $13, $7}' "$CSV"
} > "$RES_MD"
cat "$RES_MD"
if [[ -s $ANOM_FILE ]]; then
  cp "$ANOM_FILE" "$RESULTS/soak-anomalies.txt"
  log "soak FAILED: $(wc -l < "$ANOM_FILE") anomalies (see $RES_MD); work dir kept: $SOAK_DIR"
  exit 1
fi
SOAK_OK=1
log "soak passed: size $(hb "$base") -> $(hb "$last") ($growth %), fsck clean"
exit 0
