# shellcheck shell=bash
# Common helpers for the cowfs benchmark scripts. Sourced by every workload script.
#
# Environment:
#   BENCH_ROOT   scratch directory for data, stores, mounts (default: bench-scripts/work, git-ignored)
#   RESULTS      where the markdown tables go (default: bench-scripts/results, or results/quick with --quick)
#   COWFS_JAR    the CLI jar (default: cli/target/cowfs.jar of this repository)
#   QUICK=1 / --quick   small sizes, for developing the scripts (< 1 minute per workload)
#   PRETOUCH_GIB=N  after each drop_caches, touch and free N GiB (see drop_caches; default 0: off)

set -uo pipefail

BS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BS_DIR/.." && pwd)"
QUICK=${QUICK:-0}
for _a in "$@"; do [[ $_a == --quick ]] && QUICK=1; done
export QUICK

if [[ $QUICK == 1 ]]; then
  BENCH_ROOT=${BENCH_ROOT:-$BS_DIR/work/quick}
  RESULTS=${RESULTS:-$BS_DIR/results/quick}
  TREE_DIRS=10; TREE_FILES=200; FILE_BYTES=2048   # 2,000 files
  BIG_MB=64
  FORK_SIZES="10 1000 2000"
  REAL_SRC=(/usr/share/doc)
  CI_SRC=/usr/share/doc
  CI_N=3
  MEM_VIEWS=3
  FIO_RAND_IO=16M
  REPS=3
else
  BENCH_ROOT=${BENCH_ROOT:-$BS_DIR/work/full}
  RESULTS=${RESULTS:-$BS_DIR/results}
  TREE_DIRS=100; TREE_FILES=1000; FILE_BYTES=2048 # 100,000 files
  BIG_MB=1024
  FORK_SIZES="10 10000 100000"
  REAL_SRC=(/usr/share /usr/lib/jvm)
  CI_SRC=${CI_SRC:-$(ls -d /root/.pyenv/versions/3.12*/lib/python3.12 2>/dev/null | head -1)}
  [[ -n $CI_SRC && -d $CI_SRC ]] || CI_SRC=/usr/share/doc
  CI_N=20
  MEM_VIEWS=20
  FIO_RAND_IO=64M
  REPS=5
fi
export BENCH_ROOT RESULTS

COWFS_JAR=${COWFS_JAR:-$REPO/cli/target/cowfs.jar}
DATA=$BENCH_ROOT/data          # generated tree + big file (+ copies of real trees)
STORE=$BENCH_ROOT/store        # the main cowfs store
MNT=$BENCH_ROOT/mnt            # mountpoints
TMPW=$BENCH_ROOT/tmp           # per-workload scratch (copies, uppers, ...)
SQFS=$BENCH_ROOT/sqfs          # squashfs images (made by the import workload)
XFS_IMG=$BENCH_ROOT/xfs.img
XFS_MP=$BENCH_ROOT/xfs
mkdir -p "$BENCH_ROOT" "$RESULTS" "$MNT" "$TMPW" "$SQFS"

# ---------------------------------------------------------------- cowfs CLI
export LC_ALL=C.UTF-8
COWFS_CMD=(java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$COWFS_JAR" io.cowfs.cli.Main)
# COWFS_VIA_LAUNCHER=1: every command through the repository's launcher instead (no agent), as a user
# runs them: its `cowfs mount` serves the mount in its own JVM (docs/STARTUP.md, "One JVM for a fresh mount")
[[ ${COWFS_VIA_LAUNCHER:-0} == 1 ]] && COWFS_CMD=(env COWFS_JAR="$COWFS_JAR" COWFS_NO_AGENT=1 "$REPO/cowfs")
cowfs() { "${COWFS_CMD[@]}" "$@"; }
# cw CMD ARGS... : cowfs on the main store (or $CW_STORE)
cw() { local c=$1; shift; cowfs "$c" --store="${CW_STORE:-$STORE}" "$@"; }

require_jar() {
  if [[ ! -f $COWFS_JAR ]]; then
    echo "building cowfs (mvn -q -o -DskipTests package)..." >&2
    (cd "$REPO" && mvn -q -o -DskipTests package) || { echo "build failed" >&2; exit 1; }
  fi
}

# ---------------------------------------------------------------- logging, timing
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
now() { echo "$EPOCHREALTIME"; }
# since T0 -> seconds (float)
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.4f", b-a}'; }
# timed VAR cmd... : run cmd (stdout/stderr kept), put wall seconds in VAR; returns cmd's status
timed() {
  local __v=$1; shift
  local __t0=$EPOCHREALTIME __rc
  "$@"; __rc=$?
  printf -v "$__v" '%s' "$(since "$__t0")"
  return $__rc
}
# PRETOUCH_GIB=N: after dropping, touch N GiB of memory and free it. On a VM that gives freed guest pages back
# to its host (free page reporting), the next use of such a page faults in the host: a cold read's page-cache
# pages then cost 2-4x more for a system whose read comes a few seconds after the drop than for one whose read
# comes at once (docs/PERFORMANCE.md, 2026-12-03). Touching memory first gives every system host-backed pages.
drop_caches() {
  sync; echo 3 > /proc/sys/vm/drop_caches; sleep 0.3
  if [[ ${PRETOUCH_GIB:-0} != 0 ]]; then python3 -c "b = bytearray(${PRETOUCH_GIB} << 30)"; fi
}

# arithmetic helpers (awk, floats)
calc() { awk "BEGIN{v=$1; printf \"%.${2:-3}f\", v}"; }
# ratio A B -> "1.23x" (A/B); "-" when not computable
ratio() {
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN{ if (a=="" || b=="" || a=="-" || b=="-" || b+0==0 || a !~ /^[0-9.eE+-]+$/ || b !~ /^[0-9.eE+-]+$/) {print "-"} else {r=a/b; if (r>=100) printf "%.0fx", r; else if (r>=10) printf "%.1fx", r; else if (r>=0.01) printf "%.2fx", r; else printf "%.4fx", r} }'
}
# median of numbers on argv
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END{ if (NR==0) {print "-"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.4f\n", (a[NR/2]+a[NR/2+1])/2 }'; }
mib() { awk -v b="$1" 'BEGIN{printf "%.1f", b/1048576}'; }
# human bytes
hb() { awk -v b="$1" 'BEGIN{ split("B KiB MiB GiB TiB",u," "); i=1; while (b>=1024 && i<5) {b/=1024; i++} printf (i==1?"%d %s":"%.1f %s"), b, u[i] }'; }
du_bytes() { du -s --block-size=1 "$@" 2>/dev/null | awk '{s+=$1} END{printf "%.0f\n", s}'; }
app_bytes() { du -s --apparent-size --block-size=1 "$@" 2>/dev/null | awk '{s+=$1} END{printf "%.0f\n", s}'; }
json_field() { grep -o "\"$2\" *: *[^,}]*" <<<"$1" | head -1 | sed 's/.*: *//; s/"//g'; }

# ---------------------------------------------------------------- results
# Each workload writes results/NAME.md (markdown) and results/NAME.tsv (key<TAB>value, for SUMMARY.md).
res_begin() {
  RES_NAME=$1
  RES_MD=$RESULTS/$1.md
  RES_TSV=$RESULTS/$1.tsv
  : > "$RES_MD"; : > "$RES_TSV"
  md "# $2" ""
  md "_$(date -u '+%Y-%m-%d %H:%M UTC'), $( [[ $QUICK == 1 ]] && echo 'QUICK sizes' || echo 'full sizes'), cowfs $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)_" ""
}
md() { local l; for l in "$@"; do printf '%s\n' "$l" | tee -a "$RES_MD"; done; }
metric() { printf '%s\t%s\n' "$1" "$2" >> "$RES_TSV"; }
# table header: th "a" "b" "c"
th() { local IFS='|'; md "| $* |"; local s="" x; for x in "$@"; do s+="|---"; done; md "$s|"; }
tr_() { local IFS='|'; md "| $* |"; }
note() { md "" "$@" ""; }
ABNORMAL=${ABNORMAL:-}
abnormal() { # record something cowfs did wrong (also in results/ABNORMAL.md)
  log "ABNORMAL: $*"
  printf -- '- [%s] %s\n' "${RES_NAME:-?}" "$*" >> "$RESULTS/ABNORMAL.md"
}

# ---------------------------------------------------------------- mounts (all unmounted on exit)
MOUNTS_FILE=$BENCH_ROOT/.mounts.$$
: > "$MOUNTS_FILE"
track_mount() { printf '%s\t%s\n' "$1" "$2" >> "$MOUNTS_FILE"; }   # kind mountpoint
untrack_mount() { local t; t=$(grep -v -P "\t\Q$1\E\$" "$MOUNTS_FILE"); printf '%s\n' "$t" | sed '/^$/d' > "$MOUNTS_FILE"; }
is_mounted() { mountpoint -q "$1" 2>/dev/null; }

# fresh_dir DIR: empty DIR; never descends into a mount left below it (a bind mount of /usr/share...)
fresh_dir() {
  local m
  for m in $(findmnt -rn -o TARGET | grep -F "$1/" | sort -r); do umount "$m" 2>/dev/null || umount -l "$m"; done
  rm -rf --one-file-system "$1" 2>/dev/null; mkdir -p "$1"
}

# mount_cowfs NAME MP [--ro] : mounts via the CLI (returns when ready); uses $CW_STORE or $STORE
mount_cowfs() {
  local name=$1 mp=$2; shift 2
  mkdir -p "$mp"
  if ! cw mount "$name" "$mp" "$@" >/dev/null; then
    abnormal "cowfs mount $name $mp $* failed (see ${CW_STORE:-$STORE}/run/$name.log)"
    return 1
  fi
  track_mount "cowfs:${CW_STORE:-$STORE}" "$mp"
}
umount_cowfs() {
  local mp=$1 st=${CW_STORE:-$STORE}
  is_mounted "$mp" || { untrack_mount "$mp"; return 0; }
  if ! timeout 300 "${COWFS_CMD[@]}" umount --store="$st" "$mp" >/dev/null; then
    abnormal "cowfs umount $mp failed or took > 300 s; used fusermount -u"
    fusermount -u "$mp" 2>/dev/null || umount -l "$mp"
  fi
  untrack_mount "$mp"
}
# with_jar JAR CMD...: CMD with the cowfs commands run by JAR's build (its mount process too): an
# OLD_JAR's mount beside the current build's, in the same run (14-seek.sh, 15-punch.sh, 16-direct-writes.sh)
with_jar() {
  local saved=("${COWFS_CMD[@]}") rc=0
  COWFS_CMD=("${COWFS_CMD[@]/$COWFS_JAR/$1}"); shift
  "$@" || rc=$?
  COWFS_CMD=("${saved[@]}")
  return $rc
}
# layer_systems: SYSTEMS (the environment's, default: kernel overlayfs, fuse-overlayfs, OLD_JAR's view if
# set, this build's view) as an array, and LABEL, their names in a table
layer_systems() {
  read -r -a SYSTEMS <<< "${SYSTEMS:-ovl fovl ${OLD_JAR:+cowold }cowview}"
  declare -gA LABEL=([ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [cowold]="cowfs view, ${OLD_JAR:+${OLD_JAR##*/}}" [cowview]="**cowfs view**")
}
# mount_layer SYS SNAPSHOT LOWER TAG MP: a fresh writable layer at MP over the same data, for the
# systems ovl and fovl (LOWER, an upper under $TMPW/TAG-SYS), cowview and cowold (a new view of
# SNAPSHOT, named in LAYER_VIEW; cowold mounted by OLD_JAR's build); umount_layer SYS TAG MP undoes
# it, also after a set-up that failed half way.
mount_layer() {
  local sys=$1 snap=$2 lower=$3 tag=$4 mp=$5
  LAYER_VIEW=
  case $sys in
    ovl) mount_overlay "$lower" "$TMPW/$tag-ovl" "$mp" ;;
    fovl) mount_fovl "$lower" "$TMPW/$tag-fovl" "$mp" ;;
    cowview|cowold)
      LAYER_VIEW=$(uname_ "$tag")
      cw fork "$snap" --name "$LAYER_VIEW" >/dev/null || return 1
      if [[ $sys == cowold ]]; then with_jar "$OLD_JAR" mount_cowfs "$LAYER_VIEW" "$mp"; else mount_cowfs "$LAYER_VIEW" "$mp"; fi ;;
    *) return 1 ;;
  esac
}
umount_layer() {
  local sys=$1 tag=$2 mp=$3
  case $sys in
    ovl|fovl) umount_any "$mp" 2>/dev/null; rm -rf "$TMPW/$tag-$sys" ;;
    cowview|cowold) umount_cowfs "$mp" 2>/dev/null; [[ -n $LAYER_VIEW ]] && cw rm "$LAYER_VIEW" >/dev/null 2>&1 ;;
  esac
  return 0
}
# pid of the cowfs mount process serving MP (from STORE/run/view-*.mount)
cowfs_pid() {
  local mp=$1 st=${CW_STORE:-$STORE} f
  for f in "$st"/run/view-*.mount; do
    [[ -f $f ]] || continue
    if grep -qxF "mountpoint=$mp" "$f"; then sed -n 's/^pid=//p' "$f"; return 0; fi
  done
  return 1
}
mount_overlay() {   # LOWER UPPERBASE MP : kernel overlayfs, fresh upper/work
  local lower=$1 ub=$2 mp=$3
  fresh_dir "$ub"; mkdir -p "$ub/upper" "$ub/work" "$mp"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$ub/upper,workdir=$ub/work" "$mp" && track_mount overlay "$mp"
}
mount_fovl() {      # LOWER UPPERBASE MP : fuse-overlayfs
  local lower=$1 ub=$2 mp=$3
  fresh_dir "$ub"; mkdir -p "$ub/upper" "$ub/work" "$mp"
  fuse-overlayfs -o "lowerdir=$lower,upperdir=$ub/upper,workdir=$ub/work" "$mp" 2>/dev/null && track_mount fuse "$mp"
}
mount_sqfuse() {    # IMAGE MP
  mkdir -p "$2"; squashfuse "$1" "$2" && track_mount fuse "$2"
}
mount_floor() {     # SRC MP : the in-memory floor (io.cowfs.fusefs.floor.MemoryFs) through the kernel adapter
  local src=$1 mp=$2 i pid    # (every file of SRC is held in a Java array: none may reach 2 GiB)
  mkdir -p "$mp"
  nohup java -Xmx4g -XX:+UseParallelGC --add-opens=java.base/java.nio=ALL-UNNAMED -cp "$COWFS_JAR" \
    io.cowfs.fusefs.floor.MemoryFs "$src" "$mp" > "$TMPW/floor.log" 2>&1 &
  pid=$!
  for i in $(seq 1 600); do
    is_mounted "$mp" && { track_mount fuse "$mp"; return 0; }
    kill -0 "$pid" 2>/dev/null || break   # it ended (say, a file too big for it): no use waiting
    sleep 0.2
  done
  abnormal "floor did not mount: $(grep -m1 -v '^\s*at ' "$TMPW/floor.log") (see $TMPW/floor.log)"; return 1
}
# writable_dir SYS TAG SNAPSHOT LOWER: sets DIR to a fresh writable tree holding LOWER's files (imported as
# SNAPSHOT) on system SYS, paths named after TAG: host (a copy on the host's disk), ovl and fovl (kernel
# overlayfs and fuse-overlayfs with a fresh upper), cowview (a fresh fork, mounted), cowold (the same fork
# mounted by the build OLD_JAR names: an A/B of two builds in one run). drop_writable_dir SYS TAG undoes it.
OLD_CMD=(java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
         -cp "${OLD_JAR:-}" io.cowfs.cli.Main)
writable_dir() {
  local sys=$1 tag=$2 snap=$3 lower=$4 v
  DIR=
  case $sys in
    host) fresh_dir "$TMPW/$tag-host" && cp -a "$lower/." "$TMPW/$tag-host/" && DIR=$TMPW/$tag-host ;;
    ovl) mount_overlay "$lower" "$TMPW/$tag-ovl" "$MNT/$tag-ovl" && DIR=$MNT/$tag-ovl ;;
    fovl) mount_fovl "$lower" "$TMPW/$tag-fovl" "$MNT/$tag-fovl" && DIR=$MNT/$tag-fovl ;;
    cowview) v=$(uname_ "${tag}v"); cw fork "$snap" --name "$v" >/dev/null && mount_cowfs "$v" "$MNT/$tag-cow" && DIR=$MNT/$tag-cow ;;
    cowold) v=$(uname_ "${tag}o"); cw fork "$snap" --name "$v" >/dev/null && mkdir -p "$MNT/$tag-old" \
              && "${OLD_CMD[@]}" mount "$v" "$MNT/$tag-old" --store="$STORE" >/dev/null \
              && track_mount "cowfs:$STORE" "$MNT/$tag-old" && DIR=$MNT/$tag-old ;;
  esac
  [[ -n $DIR ]]
}
drop_writable_dir() {
  case $1 in
    host) rm -rf "$TMPW/$2-host" ;;
    ovl|fovl) umount_any "$MNT/$2-$1"; rm -rf "$TMPW/$2-$1" ;;
    cowview) umount_cowfs "$MNT/$2-cow" ;;
    cowold) umount_cowfs "$MNT/$2-old" ;;
  esac
}
umount_any() {      # MP (non-cowfs)
  local mp=$1
  if is_mounted "$mp"; then
    umount "$mp" 2>/dev/null || fusermount3 -u "$mp" 2>/dev/null || umount -l "$mp"
  fi
  untrack_mount "$mp"
}
unmount_all() {
  local kind mp
  [[ -f $MOUNTS_FILE ]] || return 0
  tac "$MOUNTS_FILE" | while IFS=$'\t' read -r kind mp; do
    [[ -n $mp ]] || continue
    is_mounted "$mp" || continue
    case $kind in
      cowfs:*) cowfs umount --store="${kind#cowfs:}" "$mp" >/dev/null 2>&1 || fusermount -u "$mp" 2>/dev/null || umount -l "$mp" ;;
      *) umount "$mp" 2>/dev/null || fusermount3 -u "$mp" 2>/dev/null || umount -l "$mp" ;;
    esac
  done
  rm -f "$MOUNTS_FILE"
}
trap unmount_all EXIT
trap 'exit 130' INT TERM

# XFS loop image with reflinks (for cp --reflink peers)
ensure_xfs() {
  if is_mounted "$XFS_MP"; then return 0; fi
  command -v mkfs.xfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xfsprogs >/dev/null
  local size=$([[ $QUICK == 1 ]] && echo 2G || echo 12G)
  rm -f "$XFS_IMG"; truncate -s "$size" "$XFS_IMG"
  mkfs.xfs -q -f -m reflink=1 "$XFS_IMG" || return 1
  mkdir -p "$XFS_MP"
  mount -o loop "$XFS_IMG" "$XFS_MP" && track_mount xfs "$XFS_MP"
}

# ---------------------------------------------------------------- data
# Generated tree: TREE_DIRS dirs x TREE_FILES files of FILE_BYTES (base64 text of random bytes,
# ~1.3x compressible, no two files alike) + one BIG_MB file of random bytes.
ensure_data() {
  local stamp="$DATA/.done-$TREE_DIRS-$TREE_FILES-$FILE_BYTES-$BIG_MB"
  [[ -f $stamp ]] && return 0
  log "generating data in $DATA ($TREE_DIRS x $TREE_FILES files of $FILE_BYTES B + $BIG_MB MiB file)"
  rm -rf "$DATA"; mkdir -p "$DATA/tree" "$DATA/big"
  /usr/bin/python3 - "$DATA/tree" "$TREE_DIRS" "$TREE_FILES" "$FILE_BYTES" <<'EOF'
import os, sys, base64
root, nd, nf, sz = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
raw = sz * 3 // 4
for d in range(nd):
    p = os.path.join(root, "d%03d" % d); os.mkdir(p)
    for f in range(nf):
        with open(os.path.join(p, "f%04d" % f), "wb") as fh:
            fh.write(base64.b64encode(os.urandom(raw))[:sz])
EOF
  dd if=/dev/urandom of="$DATA/big/big.bin" bs=1M count="$BIG_MB" status=none
  # trees for fork-latency (10 files, and the middle size as a prefix of the big tree)
  local n
  for n in $FORK_SIZES; do
    mkdir -p "$DATA/fork/t$n"
    if (( n <= TREE_FILES )); then
      cp -a "$DATA/tree/d000/." "$DATA/fork/t$n/" && find "$DATA/fork/t$n" -type f | sort | tail -n +$((n+1)) | xargs -r rm -f
    elif (( n < TREE_DIRS * TREE_FILES )); then
      local k=$(( n / TREE_FILES )) i
      for ((i=0;i<k;i++)); do cp -a "$DATA/tree/$(printf d%03d $i)" "$DATA/fork/t$n/"; done
    else
      rmdir "$DATA/fork/t$n"; ln -s ../tree "$DATA/fork/t$n"
    fi
  done
  sync
  touch "$stamp"
}
fork_src() { local p="$DATA/fork/t$1"; [[ -L $p ]] && p=$(readlink -f "$p"); echo "$p"; }

ensure_store() { [[ -f ${CW_STORE:-$STORE}/cowfs-store.properties ]] || cw init >/dev/null; }
has_name() { cw list --json 2>/dev/null | grep -q "\"name\" : \"$1\""; }
# ensure_snapshot NAME SRC : import SRC as NAME unless present
ensure_snapshot() {
  ensure_store
  has_name "$1" && return 0
  log "importing $2 as $1"
  cw import "$2" --name "$1" >/dev/null || { abnormal "cowfs import $2 --name $1 failed"; return 1; }
}
# unique name
uname_() { echo "$1-$(date +%s%N | tail -c 8)$RANDOM"; }
# read all files of a tree into the page cache
warm_tree() { find "$@" -type f -print0 | xargs -0 -r cat > /dev/null 2>&1; }
# This machine's disk is a file on its host: a "cold" read that the host has cached runs at memory speed
# (3.5 GB/s here), one it has not at the disk's. So the reads workloads read every file a system will read
# once first (the host caches all of them: the big file, the store's packs and index, and FILES...), and
# "cold" means the guest's page cache only, for everyone (PRIME=0: no priming; results then depend on what
# the host happened to cache). Returns non-zero if PRIME=0.
prime_host() { [[ ${PRIME:-1} == 1 ]] || return 1; cat "$DATA/big/big.bin" "$STORE"/packs/* "$STORE"/index/data.mdb "$@" > /dev/null 2>&1; true; }
count_files() { find "$@" -type f | wc -l; }
