#!/usr/bin/env bash
# perf record -a during a cold read of VIEW (default big in the main store; STORE_NAME=ab-store VIEW=ab-rewritten)
here=$(cd "$(dirname "$0")" && pwd); cd "$here/.." && source lib.sh >/dev/null 2>&1
trap - EXIT
STORE=$BENCH_ROOT/${STORE_NAME:-store}
M2=$MNT/perf-read; mkdir -p "$M2"
export COWFS_MOUNT_SPARE=0
COWFS_MOUNT_JAVA_OPTS="${OPTS:-} -XX:+UnlockDiagnosticVMOptions -XX:+DumpPerfMapAtExit" cw mount ${VIEW:-big} "$M2" >/dev/null || exit 1
cat "$STORE"/packs/* > /dev/null; drop_caches
perf record ${PERFG:-} -a -o ${PERF_DATA:-/tmp/cowfs-perf.data} -- dd if="$M2/big.bin" of=/dev/null bs=1M 2>&1 | tail -1
cw umount "$M2" >/dev/null
sleep 1
perf report -i ${PERF_DATA:-/tmp/cowfs-perf.data} --sort comm,dso --stdio 2>/dev/null | grep -v "^#" | grep -v "^$" | head -25
perf report -i ${PERF_DATA:-/tmp/cowfs-perf.data} --sort sym --stdio 2>/dev/null | grep -v "^#" | grep -v "^$" | head -40
