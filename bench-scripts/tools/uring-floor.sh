#!/usr/bin/env bash
# The FUSE transport alone, measured: a C server holding a fixed tree in memory
# (tools/uring-floor.c) over /dev/fuse read/writev with 2 threads (classic), and over io_uring
# (fuse.enable_uring, Linux 6.14+) with one ring per CPU, its thread pinned to that CPU as
# libfuse 3.18 does (uring) or not (uring-nopin). The same tree is also served by cowfs's own
# floor (io.cowfs.fusefs.floor.MemoryFs: Java, the kernel adapter, no store; COWFS_JAR or
# cli/target/cowfs.jar), loaded from a host copy, in the mount process's JVM settings (C1 only,
# serial GC; 2 GiB of heap for the 1 GiB file), with its store-ahead of small files (java) or
# without (java-nopush). Every mount gets cowfs's read-ahead, 1 MiB (the bdi's read_ahead_kb).
# Needs root and gcc; turns fuse.enable_uring on for the run and restores it.
#
# One mount per system and round, the systems' order rotated each round. A pass of every
# workload first warms the server; then each is timed after drop_caches, which makes the kernel
# forget the mount's pages, dentries and inodes as a fresh mount has none: a dd of /big (1 GiB),
# find -printf %s (16,102 entries), find | xargs cat of the 16,000 small files.
#
# classic-spinN (not in the default set): the C server's workers keep reading a non-blocking clone of
# the session for N microseconds before they sleep in poll().
#
# usage: [SYSTEMS="classic uring uring-nopin java java-nopush"] uring-floor.sh [ROUNDS] [DEPTH]
set -euo pipefail
ROUNDS=${1:-5}
DEPTH=${2:-8}
here=$(cd "$(dirname "$0")" && pwd)
jar=${COWFS_JAR:-$here/../../cli/target/cowfs.jar}
[ -f "$jar" ] || { echo "uring-floor.sh: no cowfs jar at $jar (mvn package, or COWFS_JAR)" >&2; exit 2; }
param=/sys/module/fuse/parameters/enable_uring
[ -w "$param" ] || { echo "uring-floor.sh: $param is missing or not writable (root, Linux 6.14+)" >&2; exit 2; }
work=$(mktemp -d)
mp=$work/mnt
mkdir -p "$mp"
bin=$work/uring-floor
gcc -O2 -Wall -pthread -o "$bin" "$here/uring-floor.c"
old=$(cat "$param")
server=
cleanup() {
    if mountpoint -q "$mp"; then umount "$mp" 2>/dev/null || umount -l "$mp" || true; fi
    [ -n "$server" ] && kill "$server" 2>/dev/null || true
    echo "$old" > "$param"
    mountpoint -q "$mp" || rm -rf --one-file-system "$work"
}
trap cleanup EXIT
echo Y > "$param"

tree=$work/tree   # the Java floor's source: the same shape as the C server's
mkdir -p "$tree"
head -c 1G /dev/urandom > "$tree/big"
python3 - "$tree" <<'PY'
import os, sys
for d in range(100):
    os.mkdir(f"{sys.argv[1]}/d{d}")
    for f in range(160):
        with open(f"{sys.argv[1]}/d{d}/f{f}", "w") as out:
            out.write("x" * 100)
PY

mount_floor() { # system
    local transport=${1%-nopin} nopin= n=2 push= spin=
    [ "$1" = uring-nopin ] && nopin=1
    if [[ $1 == classic-spin* ]]; then transport=classic; spin=${1#classic-spin}; fi # spin N us before sleeping
    [ "$transport" = uring ] && n=$DEPTH
    [ "$1" = java-nopush ] && push=-Dcowfs.fuse.pushAhead=0
    : > "$work/log"
    if [ "${1%-nopush}" = java ]; then
        java -XX:+UseSerialGC -Xmx2g -Xss256k -XX:TieredStopAtLevel=1 -XX:CICompilerCount=2 $push \
            --add-opens=java.base/java.nio=ALL-UNNAMED -cp "$jar" \
            io.cowfs.fusefs.floor.MemoryFs "$tree" "$mp" > "$work/log" 2>&1 &
        server=$!
        for _ in $(seq 600); do mountpoint -q "$mp" && return 0; sleep 0.1; done
    else
        env ${nopin:+FLOOR_NOPIN=1} ${spin:+FLOOR_SPIN_US=$spin} "$bin" "$mp" "$transport" "$n" 1024 100 160 > "$work/log" 2>&1 &
        server=$!
        for _ in $(seq 200); do
            if grep -q ready "$work/log"; then
                echo 1024 > "/sys/class/bdi/$(mountpoint -d "$mp")/read_ahead_kb" # as cowfs's mounts
                return 0
            fi
            sleep 0.05
        done
    fi
    cat "$work/log" >&2; return 1
}
unmount_floor() {
    umount "$mp"
    for _ in $(seq 100); do kill -0 "$server" 2>/dev/null || break; sleep 0.05; done
    server=
    grep served "$work/log" | sed "s/^/    $1 /" >&2 || true
}
secs() { # command...: prints the seconds it took, the kernel's caches dropped first; fails if it fails
    local t0 t1
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s.%N)
    "$@" > /dev/null 2>&1 || { echo "uring-floor.sh: '$*' failed" >&2; return 1; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
readbig() { dd if="$mp/big" of=/dev/null bs=1M 2>&1 | grep -q '^1073741824 bytes'; }
catall() { find "$mp" -type f -name 'f*' -print0 | xargs -0 cat | [ "$(wc -c)" = 1600000 ]; }
systems=(${SYSTEMS:-classic uring uring-nopin java java-nopush})
printf '%-8s %-12s %-10s %-10s %-18s\n' round system dd_s find_s 'find|xargs cat_s'
for r in $(seq "$ROUNDS"); do
    for k in "${!systems[@]}"; do
        sys=${systems[$(( (k + r - 1) % ${#systems[@]} ))]}
        mount_floor "$sys"
        readbig; find "$mp" -printf '%s\n' > /dev/null; catall
        rd=$(secs readbig)
        fd=$(secs find "$mp" -printf '%s\n')
        ct=$(secs catall)
        unmount_floor "$sys"
        printf '%-8s %-12s %-10s %-10s %-18s\n' "$r" "$sys" "$rd" "$fd" "$ct"
    done
done
