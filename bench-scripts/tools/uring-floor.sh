#!/usr/bin/env bash
# The FUSE transport alone, measured: a C server holding a fixed tree in memory
# (tools/uring-floor.c) over /dev/fuse read/writev with 2 threads, and over io_uring
# (fuse.enable_uring, Linux 6.14+) with one ring per CPU. Fresh mount per sample,
# transports alternating. Needs root and gcc.
#
# The same tree is also served by cowfs's own floor (io.cowfs.fusefs.floor.MemoryFs, Java, the
# kernel adapter; COWFS_JAR or cli/target/cowfs.jar), loaded from a host copy.
#
# usage: [SYSTEMS="classic uring uring-nopin java"] uring-floor.sh [ROUNDS] [DEPTH]
set -euo pipefail
ROUNDS=${1:-5}
DEPTH=${2:-8}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
bin=$work/uring-floor
gcc -O2 -Wall -pthread -o "$bin" "$here/uring-floor.c"
param=/sys/module/fuse/parameters/enable_uring
old=$(cat "$param")
mp=$work/mnt
mkdir -p "$mp"
cleanup() {
    umount "$mp" 2>/dev/null || true
    echo "$old" > "$param"
    rm -rf "$work"
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
jar=${COWFS_JAR:-$here/../../cli/target/cowfs.jar}

mount_floor() { # system
    local transport=${1%-nopin} nopin= n=2
    [ "$1" = uring-nopin ] && nopin=1
    [ "$transport" = uring ] && n=$DEPTH
    : > "$work/log"
    if [ "${1%-nopush}" = java ]; then # java-nopush: no store-ahead of small files (nothing to hide here)
        java -Xmx4g -XX:+UseParallelGC $([ "$1" = java-nopush ] && echo -Dcowfs.fuse.pushAhead=0) --add-opens=java.base/java.nio=ALL-UNNAMED -cp "$jar" \
            io.cowfs.fusefs.floor.MemoryFs "$tree" "$mp" > "$work/log" 2>&1 &
        for _ in $(seq 600); do mountpoint -q "$mp" && return 0; sleep 0.1; done
    else
        env ${nopin:+FLOOR_NOPIN=1} "$bin" "$mp" "$transport" "$n" 1024 100 160 > "$work/log" 2>&1 &
        for _ in $(seq 200); do grep -q ready "$work/log" && return 0; sleep 0.05; done
    fi
    cat "$work/log" >&2; return 1
}
unmount_floor() {
    umount "$mp"
    for _ in $(seq 100); do mountpoint -q "$mp" || break; sleep 0.05; done
    sleep 0.5
    grep served "$work/log" | sed "s/^/    $1 /" >&2 || true
}
secs() { # command...: prints the seconds it took, the kernel's caches dropped first
    local t0 t1
    sync; echo 3 > /proc/sys/vm/drop_caches
    t0=$(date +%s.%N); "$@" > /dev/null 2>&1; t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}
catall() { find "$mp" -type f -name 'f*' -print0 | xargs -0 cat; }
# One mount per system and round. A pass of every workload first warms the server (the Java
# floor's JIT); then each workload is timed after drop_caches, which makes the kernel forget the
# mount's pages, dentries and inodes as a fresh mount has none.
printf '%-8s %-12s %-10s %-10s %-10s\n' round system read_s find_s cat_s
for r in $(seq "$ROUNDS"); do
    for sys in ${SYSTEMS:-classic uring uring-nopin java}; do
        mount_floor "$sys"
        dd if="$mp/big" of=/dev/null bs=1M 2>/dev/null; find "$mp" -printf '%s\n' > /dev/null; catall > /dev/null
        rd=$(secs dd if="$mp/big" of=/dev/null bs=1M)
        fd=$(secs find "$mp" -printf '%s\n')
        ct=$(secs catall)
        unmount_floor "$sys"
        printf '%-8s %-12s %-10s %-10s %-10s\n' "$r" "$sys" "$rd" "$fd" "$ct"
    done
done
