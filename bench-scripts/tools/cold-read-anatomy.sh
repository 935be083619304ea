#!/usr/bin/env bash
# Where a cold sequential read through cowfs spends its time: the disk, the CPUs, the mount's threads,
# the reader, and the FUSE queue, read by read:
#   [ROUNDS=4] [READ_AHEAD_KB=K] [ORACLE=1] [VIEW=big] bash bench-scripts/tools/cold-read-anatomy.sh
# Mounts VIEW (default: the snapshot `big` of the bench store, 03-reads.sh makes it) once, then per round:
# the packs and index read once (lib.sh's prime_host, as 03-reads.sh primes; PRIME=0: not), `drop_caches`, and
# `dd bs=1M` of its big.bin, measuring over the dd:
#   - /proc/diskstats of the packs' device: reads, MB, average request, time the device was busy;
#   - /proc/stat: user, system, idle and iowait shares of all CPUs;
#   - the dd's own CPU, and each thread of the mount process by name (/proc/PID/task/*/stat);
#   - FUSE READ requests in flight (the kernel's fuse:fuse_request_send/end tracepoints, this mount's
#     connection only): the mean and the share of time with 0, 1, 2 and more outstanding.
# Round 1 is a fresh mount process's (its JIT is cold; with neither knob below a spare process may serve it).
# READ_AHEAD_KB: the mount's kernel read-ahead (-Dcowfs.readAheadKb; a mount process of its own, no spare).
# ORACLE=1: while dd reads, `cat` reads the packs the mount has open (in the order it opened them) to
# /dev/null: a read-ahead of the packs that is always ahead, what any in-process pack prefetch could at
# most give (docs/PERFORMANCE.md, 2026-12-08).
source "$(dirname "$0")/../lib.sh"
require_jar
trap - EXIT
ROUNDS=${ROUNDS:-4}
VIEW=${VIEW:-big}
T=/sys/kernel/tracing
[[ -d $T/events/fuse ]] || { echo "cold-read-anatomy.sh: no fuse tracepoints in $T (root, tracefs, a kernel with them)" >&2; exit 2; }
MP=$MNT/cold-read-anatomy; mkdir -p "$MP"
if [[ -n ${READ_AHEAD_KB:-} ]]; then export COWFS_MOUNT_SPARE=0 COWFS_MOUNT_JAVA_OPTS="-Dcowfs.readAheadKb=$READ_AHEAD_KB"; fi
mount_cowfs "$VIEW" "$MP" --ro || exit 1
cleanup() { echo 0 > $T/tracing_on; echo 0 > $T/events/fuse/enable; umount_cowfs "$MP"; }
trap cleanup EXIT
PID=$(cowfs_pid "$MP" || pgrep -f -- "$MP" | head -1)
[[ -n $PID ]] || { echo "cold-read-anatomy.sh: no mount process found for $MP" >&2; exit 1; }
CONN=$(( $(stat -c %d "$MP") & 0xff | ($(stat -c %d "$MP") >> 12 & 0xfff00) ))
DEV=$(basename "$(df --output=source "${CW_STORE:-$STORE}/packs" | tail -1)")
FILE=$MP/big.bin
threads() { for t in /proc/"$PID"/task/*; do echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done 2>/dev/null |
            awk '{a[$1] += $2} END {for (k in a) print k, a[k]}' | sort; }
packs_in_order() { for fd in /proc/"$PID"/fd/*; do l=$(readlink "$fd") || continue; [[ $l == *.pack ]] && echo "${fd##*/} $l"; done | sort -n | awk '{print $2}'; }
echo "cold-read-anatomy: $VIEW through pid $PID, READ_AHEAD_KB=${READ_AHEAD_KB:-default} ORACLE=${ORACLE:-0}, packs on $DEV"
buf=$(cat $T/buffer_size_kb); echo 8192 > $T/buffer_size_kb
for r in $(seq 1 "$ROUNDS"); do
  prime_host "${CW_STORE:-$STORE}"/packs/* "${CW_STORE:-$STORE}"/index/data.mdb; drop_caches # as 03-reads.sh (PRIME, PRETOUCH_GIB)
  threads > "$TMPW/cra.a"; d0=$(awk -v d="$DEV" '$3 == d {print $4, $6, $13}' /proc/diskstats); c0=$(head -1 /proc/stat)
  echo > $T/trace; echo 1 > $T/events/fuse/enable; echo 1 > $T/tracing_on
  if [[ ${ORACLE:-0} == 1 && $r -gt 1 ]]; then (packs_in_order | xargs -r cat > /dev/null &) ; fi
  t0=$(date +%s.%N)
  /usr/bin/time -o "$TMPW/cra.t" -f "%U %S" dd if="$FILE" of=/dev/null bs=1M 2>/dev/null; dd_cpu=$(tail -1 "$TMPW/cra.t")
  t1=$(date +%s.%N)
  echo 0 > $T/tracing_on; echo 0 > $T/events/fuse/enable
  cp $T/trace "$TMPW/cra.trace"
  d1=$(awk -v d="$DEV" '$3 == d {print $4, $6, $13}' /proc/diskstats); c1=$(head -1 /proc/stat); threads > "$TMPW/cra.b"
  python3 - "$r" "$t0" "$t1" "$d0" "$d1" "$c0" "$c1" "$dd_cpu" "$CONN" "$TMPW/cra.a" "$TMPW/cra.b" "$(stat -c %s "$FILE")" "$TMPW/cra.trace" <<'PY'
import re, sys
r, t0, t1, d0, d1, c0, c1, ddc, conn, fa, fb, size, trace = sys.argv[1:]
wall = float(t1) - float(t0)
a, b = [list(map(int, x.split())) for x in (d0, d1)]
n, mb, busy = b[0] - a[0], (b[1] - a[1]) * 512 / 1e6, b[2] - a[2]
x, y = [list(map(int, c.split()[1:])) for c in (c0, c1)]
d = [q - p for p, q in zip(x, y)]; tot = sum(d) or 1
du, ds = (float(v) for v in ddc.split())
before = dict(l.split() for l in open(fa)); after = dict(l.split() for l in open(fb))
th = sorted(((k, (int(v) - int(before.get(k, 0))) * 10) for k, v in after.items()), key=lambda kv: -kv[1])
th = ", ".join(f"{k} {v} ms" for k, v in th if v >= 20)
pat = re.compile(r"\s(\d+\.\d+): fuse_request_(send|end): connection (\d+) req (\d+)(?: opcode \d+ \((\w+)\))?")
sent, ev = {}, []
for line in open(trace):
    m = pat.search(line)
    if not m or m.group(3) != conn:
        continue
    t, kind, req = float(m.group(1)), m.group(2), m.group(4)
    if kind == "send" and m.group(5) == "FUSE_READ":
        sent[req] = t; ev.append((t, 1))
    elif kind == "end" and req in sent:
        sent.pop(req); ev.append((t, -1))
ev.sort(); acc = {}; inflight = 0; last = ev[0][0] if ev else 0
for t, s in ev:
    acc[inflight] = acc.get(inflight, 0) + t - last; last = t; inflight += s
span = (ev[-1][0] - ev[0][0]) if ev else 0
share = lambda k: 100 * acc.get(k, 0) / span if span else 0
mean = sum(k * v for k, v in acc.items()) / span if span else 0
more = 100 * sum(v for k, v in acc.items() if k > 2) / span if span else 0
print(f"round {r}: {wall:.3f} s, {int(size) / wall / 1e9:.2f} GB/s | disk {n} reads, {mb:.0f} MB, {mb * 1000 / max(n, 1):.0f} KB each, busy {busy} ms"
      f" | CPU user {100 * d[0] / tot:.0f}% sys {100 * d[2] / tot:.0f}% idle {100 * d[3] / tot:.0f}% iowait {100 * d[4] / tot:.0f}%"
      f" | dd user {du:.2f} s sys {ds:.2f} s | mount {th}"
      f" | READs in flight {mean:.2f} (0: {share(0):.0f}%, 1: {share(1):.0f}%, 2: {share(2):.0f}%, more: {more:.0f}%)")
PY
done
echo "$buf" > $T/buffer_size_kb
