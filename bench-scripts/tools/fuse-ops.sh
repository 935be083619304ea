#!/usr/bin/env bash
# The FUSE requests a command costs on one mount, by opcode, with their latency:
#   bash bench-scripts/tools/fuse-ops.sh MOUNTPOINT COMMAND [ARG...]
# Runs COMMAND under `perf record` of the kernel's fuse:fuse_request_send / fuse:fuse_request_end
# tracepoints (root; any FUSE mount: cowfs, fuse-overlayfs, ...), keeps the requests of MOUNTPOINT's
# connection only (the minor number of its st_dev, as in /sys/fs/fuse/connections), and prints per opcode:
# count, the sum of the latencies (send to end: the time a caller waited, for synchronous requests), the
# median and the 90th percentile; then COMMAND's wall time. A request per file that the workload does
# not need is what this is for (docs/PERFORMANCE.md, 2026-12-03 "Where a view's small-file time goes").
set -euo pipefail
MP=${1:?usage: fuse-ops.sh MOUNTPOINT COMMAND [ARG...]}
shift
(($#)) || { echo "fuse-ops.sh: no command given" >&2; exit 2; }
command -v perf >/dev/null || { echo "fuse-ops.sh: perf is not installed (apt-get install linux-perf)" >&2; exit 2; }
[[ $(stat -f -c %T "$MP" 2>/dev/null) == fuseblk || $(stat -f -c %T "$MP" 2>/dev/null) == fuse ]] ||
  grep -q " $(realpath "$MP") fuse" /proc/mounts || { echo "fuse-ops.sh: $MP is not a FUSE mount" >&2; exit 2; }
CONN=$(( $(stat -c %d "$MP") & 0xff | ($(stat -c %d "$MP") >> 12 & 0xfff00) ))
DATA=$(mktemp /tmp/fuse-ops.XXXXXX)
trap 'rm -f "$DATA"' EXIT
t0=$(date +%s.%N)
perf record -q -e fuse:fuse_request_send -e fuse:fuse_request_end -a -o "$DATA" -- "$@" > /dev/null
t1=$(date +%s.%N)
perf script -i "$DATA" 2>/dev/null | python3 -c '
import collections, re, sys
conn = sys.argv[1]
pat = re.compile(r"\s(\d+\.\d+):\s+fuse:fuse_request_(send|end): connection (\d+) req (\d+)(?: opcode \d+ \((\w+)\))?")
sent, lat = {}, collections.defaultdict(list)
for line in sys.stdin:
    m = pat.search(line)
    if not m or m.group(3) != conn:
        continue
    t, kind, req = float(m.group(1)), m.group(2), m.group(4)
    if kind == "send":
        sent[req] = (t, m.group(5))
    elif req in sent:
        t0, op = sent.pop(req)
        lat[op].append(t - t0)
print("%-22s %8s %9s %10s %8s" % ("opcode", "count", "sum ms", "median us", "p90 us"))
for op, v in sorted(lat.items(), key=lambda kv: -sum(kv[1])):
    v.sort()
    print(f"{op:22s} {len(v):8d} {sum(v) * 1e3:9.1f} {v[len(v) // 2] * 1e6:10.1f} {v[int(len(v) * 0.9)] * 1e6:8.1f}")
if sent:
    print(f"({len(sent)} requests sent and not answered while the command ran)")
' "$CONN"
echo "wall: $(echo "$t1 - $t0" | bc) s (under perf)"
