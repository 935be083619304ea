#!/usr/bin/env bash
# Two cowfs builds, sample by sample, for changes smaller than the run-to-run spread of ab-writes.sh:
#   bench-scripts/ab-alternate.sh OLD.jar NEW.jar [WORKLOAD] [N]
# Each sample is one fresh mount of one store (and for the writes a fresh view), and the builds alternate
# A B B A A B ..., so neither gets the quieter minutes. Per sample: wall time, the mount process's user and
# system CPU, and (with perf) its page-fault exceptions and context switches; then the median per build.
# WORKLOAD (default coldread):
#   coldread   dd of the 1 GiB file through a fresh snapshot mount, page cache dropped first (the packs are read
#              once before, so that the host's cache is warm for both builds: see 03-reads.sh)
#   seqwrite   fio sequential 1 GiB write into a fresh view, end_fsync (as 04-writes.sh "seq")
#   randwrite  fio random 4 KiB writes ($FIO_RAND_IO) into a new 1 GiB file of a fresh view, end_fsync ("rand")
#   cptree     cp -r of 2,000 small files (d000, d001 of the generated tree) into a fresh view, then sync
#   tarx       tar -xpf of the same 2,000 files (a tarball made once) into a fresh view, then sync: tar sets each
#              file's times, owner and mode on it before closing it (a layer or a build cache unpacked)
#   restore    cp of the 1 GiB host file the store holds already into a fresh view, then sync -f (04-writes.sh
#              "restore": a build cache restored into a worktree; the host file is read cold, as there)
#   rewrittenread  dd of the 1 GiB file of a view after random 4 KiB rewrites (REWRITE_IO, default 256M, made once by the
#              new build: view ab-rewritten), through a fresh mount, page cache dropped first (13-random-growth.sh's
#              read: blocks made from sub-block deltas over their base)
#   coldfind   `find -type f | wc -l` over the million-file snapshot (21-million-files.sh makes it, in
#              $BENCH_ROOT/million-store) through a fresh --ro mount, page cache dropped first; the mount is
#              always a process of its own (COWFS_MOUNT_JAVA_OPTS set), never a spare
#   coldfindview  the same through a fresh fork of that snapshot, mounted writable (a fresh process too);
#              the fork is removed after each sample (no gc: it wrote nothing)
#   coldcat    cat of every file of the 100K-file tree through a fresh snapshot mount, page cache dropped first
#              (03-reads.sh "cat cold"); each build imports the tree into a store of its own first (a store
#              format one build writes may be one the other refuses), and the table notes each import's time and size
# N: samples per build (default 5). The store is its own ($BENCH_ROOT/ab-store, made by the new build); gc runs
# after each write sample, so every sample starts from the same store. Table: $RESULTS/ab-alternate-WORKLOAD.md.
# OLD_MOUNT_JAVA_OPTS / NEW_MOUNT_JAVA_OPTS: COWFS_MOUNT_JAVA_OPTS for that build's mounts, so one jar given twice
# compares two settings of the mount JVM.
source "$(dirname "$0")/lib.sh"
OLD=${1:?usage: ab-alternate.sh OLD.jar NEW.jar [coldread|seqwrite|randwrite|cptree|tarx|restore|coldcat|coldfind|coldfindview|rewrittenread] [N]}
NEW=${2:?usage: ab-alternate.sh OLD.jar NEW.jar [coldread|seqwrite|randwrite|cptree|tarx|restore|coldcat|coldfind|coldfindview|rewrittenread] [N]}
WL=${3:-coldread}
N=${4:-5}
case $WL in coldread|seqwrite|randwrite|cptree|tarx|restore|coldcat|coldfind|coldfindview|rewrittenread) ;; *) echo "ab-alternate.sh: unknown workload '$WL'" >&2; exit 2 ;; esac
for j in "$OLD" "$NEW"; do [[ -r $j ]] || { echo "ab-alternate.sh: cannot read $j" >&2; exit 2; }; done

ensure_data
STORE=$BENCH_ROOT/ab-store
COWFS_JAR=$NEW COWFS_CMD=(java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$NEW" io.cowfs.cli.Main)
ensure_snapshot big "$DATA/big"
MP=$MNT/ab-alternate
mkdir -p "$MP"
HAVE_PERF=0; command -v perf >/dev/null && HAVE_PERF=1

# with JAR's CLI (the mount process it starts runs the same jar)
cwj() { local jar=$1 c=$2; shift 2; java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$jar" io.cowfs.cli.Main "$c" --store="$STORE" "$@"; }
mount_pid() { grep -lxF "mountpoint=$MP" "$STORE"/run/*.mount 2>/dev/null | head -1 | xargs -r sed -n 's/^pid=//p'; }
cpu_of() { awk '{print $14, $15}' "/proc/$1/stat"; }

# sample JAR OPTS BUILD: prints "wall user_ms sys_ms faults cs"
sample() {
  local jar=$1 opts=$2 name=$MP pid u0 s0 u1 s1 t0 wall faults=- cs=- perfpid=
  [[ $WL == coldcat ]] && STORE=$BENCH_ROOT/ab-cat-$3
  if [[ $WL == coldcat ]]; then
    COWFS_MOUNT_JAVA_OPTS=$opts cwj "$jar" mount tree "$MP" >/dev/null || return 1
    cat "$STORE"/packs/* > /dev/null
    drop_caches
  elif [[ $WL == coldfind ]]; then
    COWFS_MOUNT_JAVA_OPTS=${opts:--Dcowfs.ab=fresh} cwj "$jar" mount million "$MP" --ro >/dev/null || return 1
    sync
    drop_caches
  elif [[ $WL == coldfindview ]]; then
    name=$(uname_ abf); cwj "$jar" fork million --name "$name" >/dev/null &&
      COWFS_MOUNT_JAVA_OPTS=${opts:--Dcowfs.ab=fresh} cwj "$jar" mount "$name" "$MP" >/dev/null || return 1
    sync
    drop_caches
  elif [[ $WL == coldread || $WL == rewrittenread ]]; then
    COWFS_MOUNT_JAVA_OPTS=$opts cwj "$jar" mount "$([[ $WL == coldread ]] && echo big || echo ab-rewritten)" "$MP" >/dev/null || return 1
    cat "$STORE"/packs/* > /dev/null
    drop_caches
  else
    name=$(uname_ ab); cwj "$jar" fork big --name "$name" >/dev/null &&
      COWFS_MOUNT_JAVA_OPTS=$opts cwj "$jar" mount "$name" "$MP" >/dev/null || return 1
    sync
    [[ $WL == restore ]] && drop_caches
  fi
  pid=$(mount_pid)
  read -r u0 s0 < <(cpu_of "$pid")
  if ((HAVE_PERF)); then
    perf stat -x, -e exceptions:page_fault_user,context-switches -p "$pid" -o "$TMPW/ab-perf" & perfpid=$!
    sleep 0.2
  fi
  t0=$(now)
  case $WL in
    coldread|rewrittenread) dd if="$MP/big.bin" of=/dev/null bs=1M status=none ;;
    coldcat) (cd "$MP" && find . -type f -print0 | xargs -0 cat > /dev/null) ;;
    coldfind|coldfindview) find "$MP" -type f | wc -l > "$TMPW/ab-count" ;;
    seqwrite) (cd "$MP" && fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 \
                 --name=w --rw=write --bs=1M --size=${BIG_MB}M --filename=new.bin >/dev/null) ;;
    randwrite) (cd "$MP" && fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 \
                 --name=w --rw=randwrite --bs=4k --size=${BIG_MB}M --io_size=$FIO_RAND_IO --filename=new.bin >/dev/null) ;;
    cptree) cp -r "$DATA/tree/d000" "$DATA/tree/d001" "$MP/" && sync ;;
    tarx) tar -C "$MP" -xpf "$TMPW/ab-tree.tar" && sync ;;
    restore) cp "$DATA/big/big.bin" "$MP/restored.bin" && sync -f "$MP/restored.bin" ;;
  esac
  wall=$(since "$t0")
  read -r u1 s1 < <(cpu_of "$pid")
  if [[ -n $perfpid ]]; then
    kill -INT "$perfpid" 2>/dev/null; wait "$perfpid" 2>/dev/null
    faults=$(awk -F, '/page_fault_user/{print $1}' "$TMPW/ab-perf"); cs=$(awk -F, '/context-switches/{print $1}' "$TMPW/ab-perf")
  fi
  cwj "$jar" umount "$MP" >/dev/null
  if [[ $WL == coldfindview ]]; then cwj "$jar" rm "$name" >/dev/null
  elif [[ $WL != coldread && $WL != coldcat && $WL != coldfind && $WL != rewrittenread ]]; then cwj "$jar" rm "$name" >/dev/null; cwj "$jar" gc >/dev/null; fi
  echo "$wall $(( (u1 - u0) * 10 )) $(( (s1 - s0) * 10 )) ${faults:--} ${cs:--}"
}

[[ $WL == cptree ]] && warm_tree "$DATA/tree"
if [[ $WL == coldfind || $WL == coldfindview ]]; then
  STORE=$BENCH_ROOT/million-store
  cwj "$NEW" list 2>/dev/null | grep -qw million || { echo "ab-alternate.sh: no snapshot 'million' in $STORE (run 21-million-files.sh once)" >&2; exit 1; }
fi
if [[ $WL == tarx ]]; then
  tar -C "$DATA/tree" -cf "$TMPW/ab-tree.tar" d000 d001 && cat "$TMPW/ab-tree.tar" > /dev/null || exit 1
fi
if [[ $WL == rewrittenread ]] && ! cwj "$NEW" list 2>/dev/null | grep -qw ab-rewritten; then
  cwj "$NEW" fork big --name ab-rewritten >/dev/null && cwj "$NEW" mount ab-rewritten "$MP" >/dev/null || exit 1
  (cd "$MP" && fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 \
     --name=w --rw=randwrite --bs=4k --size=${BIG_MB}M --io_size=${REWRITE_IO:-256M} --filename=big.bin >/dev/null)
  rc=$?
  cwj "$NEW" umount "$MP" >/dev/null
  if ((rc)); then # a view left unwritten would be measured as the whole file: say so and drop it
    echo "ab-alternate.sh: fio into view ab-rewritten failed (rc $rc; is fio installed?)" >&2
    cwj "$NEW" rm ab-rewritten >/dev/null; exit 1
  fi
fi
IMPORTS=
if [[ $WL == coldcat ]]; then
  warm_tree "$DATA/tree"
  for b in old new; do
    jar=$OLD; [[ $b == new ]] && jar=$NEW
    STORE=$BENCH_ROOT/ab-cat-$b; rm -rf "$STORE"; cwj "$jar" init >/dev/null
    t0=$(now); cwj "$jar" import "$DATA/tree" --name tree >/dev/null || { echo "ab-alternate.sh: import with $jar failed" >&2; exit 1; }
    IMPORTS+="$b: import $(since "$t0") s, store $(hb "$(du_bytes "$STORE")") ($(grep -o 'format=[0-9]*' "$STORE/cowfs-store.properties")); "
  done
fi
res_begin "ab-alternate-$WL" "Two builds alternating, $WL, $N samples each"
th "sample" "build" "wall (s)" "mount user (ms)" "mount sys (ms)" "page faults" "context switches"
declare -A WALL=([old]="" [new]="") USR=([old]="" [new]="") SYS=([old]="" [new]="")
for ((i = 0; i < N; i++)); do
  if ((i % 2 == 0)); then order="old new"; else order="new old"; fi
  for b in $order; do
    jar=$OLD opts=${OLD_MOUNT_JAVA_OPTS:-}; [[ $b == new ]] && jar=$NEW opts=${NEW_MOUNT_JAVA_OPTS:-}
    if ! r=$(sample "$jar" "$opts" "$b"); then abnormal "ab-alternate: $WL sample with $jar failed"; is_mounted "$MP" && cwj "$jar" umount "$MP"; continue; fi
    read -r w u s f c <<< "$r"
    log "$WL $b: wall $w s, mount user $u ms sys $s ms, faults $f, cs $c"
    tr_ "$((i + 1))" "$b" "$w" "$u" "$s" "$f" "$c"
    WALL[$b]+=" $w"; USR[$b]+=" $u"; SYS[$b]+=" $s"
  done
done
for b in old new; do
  # shellcheck disable=SC2086
  tr_ "median" "**$b**" "$(median ${WALL[$b]})" "$(median ${USR[$b]})" "$(median ${SYS[$b]})" "-" "-"
done
note "old: \`$OLD\` ${OLD_MOUNT_JAVA_OPTS:-}, new: \`$NEW\` ${NEW_MOUNT_JAVA_OPTS:-}. Builds alternate old new, new old, ...; one fresh mount per sample.${IMPORTS:+ $IMPORTS}"
