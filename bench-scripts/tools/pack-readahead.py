"""Packs read cold the way cowfs reads them, two ways: 'plain' (64 KiB preads in order: the kernel's own
read-ahead) and 'fadvise' (the same preads with posix_fadvise(WILLNEED) 4 MiB ahead, as cowfs's read-ahead
advised every run before 2026-12-03). Drop caches before each run (docs/PERFORMANCE.md, 2026-12-03):
    sync; echo 3 > /proc/sys/vm/drop_caches; python3 pack-readahead.py plain|fadvise PACK...
"""
import os
import resource
import sys
import time

mode, files = sys.argv[1], sys.argv[2:]
if mode not in ("plain", "fadvise") or not files:
    sys.exit("usage: pack-readahead.py plain|fadvise PACK...")
STEP, AHEAD = 64 << 10, 4 << 20
r0, t0, total = resource.getrusage(resource.RUSAGE_SELF), time.time(), 0
for f in files:
    fd = os.open(f, os.O_RDONLY)
    size, advised = os.fstat(fd).st_size, 0
    for off in range(0, size, STEP):
        while mode == "fadvise" and advised < min(size, off + AHEAD):
            os.posix_fadvise(fd, advised, 1 << 20, os.POSIX_FADV_WILLNEED)
            advised += 1 << 20
        total += len(os.pread(fd, STEP, off))
    os.close(fd)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(f"{mode}: {time.time() - t0:.3f} s, sys {r1.ru_stime - r0.ru_stime:.3f} s, user {r1.ru_utime - r0.ru_utime:.3f} s, {total / 1e9:.2f} GB")
