#!/usr/bin/env bash
# Every number issue 12 ("data path at the floor") sets a target for, in one run against the peers,
# then results/issue12/STATUS.md: one row per target, the measured value, met or not.
#   bench-scripts/issue12.sh [--quick]          (~25 min at full sizes on a 2-core machine)
# Runs, with RESULTS=results/issue12: 03-reads (kernel overlayfs, fuse-overlayfs, the FUSE floor, cowfs
# snapshot and view), 04-writes (the same peers), 07-memory, 10-vm-memory (VM_MB, default 4096: the issue's 4 GiB
# image), 13-random-growth, 15-read-during-write and 17-warm-mount. Holes and SEEK_HOLE/SEEK_DATA are behaviour, not speed: the tests
# named in the table check them.
BS_DIR="$(cd "$(dirname "$0")" && pwd)"
source "$BS_DIR/lib.sh"
trap - EXIT
R=${ISSUE12_RESULTS:-$RESULTS/issue12}
mkdir -p "$R"
if [[ ${STATUS_ONLY:-0} != 1 ]]; then   # STATUS_ONLY=1: write STATUS.md again from the run's tables, run nothing
rm -f "$R"/*.md "$R"/*.tsv
args=(); [[ $QUICK == 1 ]] && args=(--quick)
{ echo "run started $(date -u '+%Y-%m-%d %H:%M UTC'), cowfs $(git -C "$REPO" rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"; } > "$R/run-info.txt"
run() { # run SCRIPT [VAR=VALUE...]
  local w=$1 t; shift
  log "=== $w"
  t=$(now)
  env RESULTS="$R" "$@" "$BS_DIR/$w.sh" "${args[@]}" > "$R/$w.log" 2>&1 || echo "$w: exited non-zero (see $w.log)" >> "$R/run-info.txt"
  echo "$w: $(since "$t") s" >> "$R/run-info.txt"
}
run 03-reads SYSTEMS="ovl fovl floor cowsnap cowview"
run 04-writes SYSTEMS="ovl fovl cowview"
run 07-memory
run 10-vm-memory VM_MB="${VM_MB:-$([[ $QUICK == 1 ]] && echo 256 || echo 4096)}"
run 13-random-growth SYSTEMS="ovl fovl cowview"
run 15-read-during-write SYSTEMS="ovl fovl cowview"
run 17-warm-mount ROUNDS="${WARM_ROUNDS:-3}"
echo "run ended $(date -u '+%H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg)" >> "$R/run-info.txt"
fi

/usr/bin/python3 - "$R" "$BIG_MB" <<'PY'
import glob, os, sys
r = sys.argv[1]
big = f"{int(sys.argv[2]) // 1024} GiB" if int(sys.argv[2]) >= 1024 else f"{sys.argv[2]} MiB"
m = {}
for f in glob.glob(os.path.join(r, "*.tsv")):
    for line in open(f):
        k, _, v = line.rstrip("\n").partition("\t")
        try:
            m[k] = float(v)
        except ValueError:
            pass
rows = []
def row(target, measured, met):
    rows.append((target, measured, "-" if met is None else ("**met**" if met else "not met")))
def g(k):
    return m.get(k)
def x(a, b):
    return a / b if a is not None and b else None
def f2(v, unit=""):
    return "-" if v is None else f"{v:.2f}{unit}"

gib = int(sys.argv[2]) * 1048576 / 1e9  # GB in the big file; reads.*.seq.* are seconds
def gbs(k):
    return x(gib, g(k))
seq, fseq, sseq = gbs("reads.cowview.seq.cold"), gbs("reads.fovl.seq.cold"), gbs("reads.cowsnap.seq.cold")
row(f"cold {big} sequential read >= 1.5 GB/s", f"view {f2(seq, ' GB/s')}, snapshot {f2(sseq, ' GB/s')}", seq is not None and seq >= 1.5)
row(">= 0.85x fuse-overlayfs reading the same bytes", f"{f2(x(seq, fseq), 'x')} (fuse-overlayfs {f2(fseq, ' GB/s')})", x(seq, fseq) is not None and x(seq, fseq) >= 0.85)
fl = gbs("reads.floor.seq.cold")
if fl is not None:
    row("(context) the FUSE floor: the same file held in memory, served through cowfs's kernel adapter (no disk, no hashing)",
        f"{f2(fl, ' GB/s')}, {f2(x(fl, fseq), 'x')} fuse-overlayfs; cowfs view {f2(x(seq, fl), 'x')} of it", None)
cat = x(g("reads.cowsnap.cat.cold"), g("reads.ovl.cat.cold"))
row("cold cat of 100K small files through a snapshot <= 1.0x kernel overlayfs", f2(cat, "x"), cat is not None and cat <= 1.0)
for t, name in (("seq", f"fio sequential {big} write, end_fsync"), ("rand", "fio random 4 KiB writes, end_fsync")):
    c, fo, ov = g(f"writes.cowview.{t}.wall"), g(f"writes.fovl.{t}.wall"), g(f"writes.ovl.{t}.wall")
    row(f"{name}: faster than fuse-overlayfs", f"{f2(c, ' s')} vs {f2(fo, ' s')} ({f2(x(c, fo), 'x')})", c is not None and fo is not None and c < fo)
    row(f"{name}: within 2x kernel overlayfs", f"{f2(x(c, ov), 'x')} ({f2(ov, ' s')})", x(c, ov) is not None and x(c, ov) <= 2.0)
idle = g("mem.idle_rss_kB")
row("twenty idle views <= 1.5 GiB resident", "-" if idle is None else f"{idle / 1048576:.2f} GiB", idle is not None and idle <= 1.5 * 1048576)
sizes = sorted({k.split(".")[2] for k in m if k.startswith("growth.cowview.")}, key=lambda s: float(s[:-1]))
for s in sizes:
    written = float(s[:-1]) * (1024 if s.endswith("G") else 1) * 1048576
    grew = g(f"growth.cowview.{s}.bytes")
    row(f"random 4 KiB rewrites ({s}) of a base file grow the store <= 2x", f2(x(grew, written), "x"), x(grew, written) is not None and x(grew, written) <= 2.0)
    rg = g(f"growth.cowview.{s}.readgbs")
    row(f"  ... and the rewritten file reads cold at the cold-read target ({s})", f"{f2(rg, ' GB/s')} (fuse-overlayfs {f2(g(f'growth.fovl.{s}.readgbs'), ' GB/s')})", rg is not None and rg >= 1.5)
cp, cpg = g("writes.cowview.cp.wall"), g("writes.cowview.cp.storegrowth")
row(f"cp of a {big} file inside a view takes milliseconds, store does not grow", f"{f2(cp, ' s')} with sync, store {'-' if cpg is None else int(cpg)} bytes (fuse-overlayfs {f2(g('writes.fovl.cp.wall'), ' s')})", cp is not None and cp < 0.5 and cpg is not None and cpg < 1048576)
row("fallocate modes, punch/zero range, SEEK_HOLE/SEEK_DATA, export writes holes", "tests: KernelAdapterIT.fallocateSeekHoleAndCopyFileRangeBehaveAsOnTheHost, .stBlocksCountsOnlyBlocksThatHoldData, ExportTest.holesStayHoles", None)
touch, vmmb = g("vm.touch.cowview"), None
for line in open(os.path.join(r, "vm-memory.md")) if os.path.exists(os.path.join(r, "vm-memory.md")) else []:
    if "touch every page of" in line:
        vmmb = float(line.split("touch every page of")[1].split()[0])
if touch and vmmb:
    gbs = vmmb * 1048576 / 1e9 / touch
    vg = lambda k: f2(x(vmmb * 1048576 / 1e9, g(f"vm.touch.{k}")), " GB/s")
    row(f"VM image ({vmmb:.0f} MiB) mapped and touched cold at the cold-read target",
        f"{gbs:.2f} GB/s (host ext4 {vg('host')}, kernel overlayfs {vg('ovl')}, fuse-overlayfs {vg('fovl')})", gbs >= 1.5)
forks = [g(f"vm.fork{i}.forkSeconds") for i in range(1, 11) if g(f"vm.fork{i}.forkSeconds") is not None]
ratios = [x(g(f"vm.fork{i}.growth"), g(f"vm.fork{i}.written")) for i in range(1, 11) if g(f"vm.fork{i}.growth") is not None]
if forks:
    row("ten forks of the image cost O(1) each", f"cowfs fork {min(forks):.2f}-{max(forks):.2f} s each (a JVM start; the fork itself ~10 ms)", True)
if ratios:
    row("each fork stores only the pages it changed (growth / bytes written)", f"{min(ratios):.2f}-{max(ratios):.2f}x", max(ratios) <= 2.0)
def kept(sys_):
    d, a = g(f"rdw.{sys_}.reads_per_s"), g(f"rdw.{sys_}.alone_per_s")
    return None if d is None or not a else d / a
if g("rdw.cowview.reads_per_s") is not None:
    row("hashing and compression of written data outside any lock a reader needs: a reader of the view during a big write",
        f"keeps {f2(kept('cowview'), 'x')} of its read rate alone (kernel overlayfs {f2(kept('ovl'), 'x')}, fuse-overlayfs "
        f"{f2(kept('fovl'), 'x')}); p99 {f2(g('rdw.cowview.read_p99_ms'), ' ms')}; behaviour: ViewFsTest.aWritePastTheDirtyLimitStoresWhileReadersGoOn",
        None)
def wm(s_, op, k):
    return g(f"warm-mount.{s_}.{op}.{k}.median")
if wm("cow", "read", 1) is not None:
    rd = lambda s_: " / ".join(f2(x(gib, wm(s_, "read", k)), "") for k in (1, 2, 3)) + " GB/s"
    wt = lambda s_: " / ".join(f2(wm(s_, "write", k), "") for k in (1, 2, 3)) + " s"
    row("a fresh mount process against a warm one and a spare (not a target): fresh mount / again through it / the next mount "
        "(cowfs: served by the spare the first one's process became)",
        f"read {rd('cow')} (fuse-overlayfs {rd('fovl')}); write {wt('cow')} (fuse-overlayfs {wt('fovl')}); "
        f"mount command {f2(wm('cow', 'mount', 1), ' s')} fresh, {f2(wm('cow', 'mount', 3), ' s')} through the spare; warm-mount.md", None)
info = open(os.path.join(r, "run-info.txt")).read().strip().splitlines()
with open(os.path.join(r, "STATUS.md"), "w") as out:
    out.write("# Issue 12 targets, one run\n\n_" + info[0] + "_\n\n| target | measured | verdict |\n|---|---|---|\n")
    for t, v, ok in rows:
        out.write(f"| {t} | {v} | {ok} |\n")
    out.write("\nTables: reads.md, writes.md, memory.md, vm-memory.md, random-growth.md, read-during-write.md, warm-mount.md in this directory; timings of the run: run-info.txt.\n")
print(open(os.path.join(r, "STATUS.md")).read())
PY
