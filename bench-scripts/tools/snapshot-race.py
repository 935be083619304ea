"""Stamped random page writer and checker for bench-scripts/tools/snapshot-race.sh.

write FILE COUNTER: rewrites random 4 KiB pages of a 256 MiB FILE without pause, each page filled
with the number of its write; after each write returns, that number goes into COUNTER (8 bytes,
mapped), so a snapshot taken after reading COUNTER must hold every write up to it.
check FILE L: replays the same page sequence up to write L and counts the pages of FILE (a
snapshot's copy) older than the last write of them that had returned.
"""
import mmap, os, random, struct, sys
PAGES = 65536
def offs():
    r = random.Random(7)
    while True:
        yield r.randrange(PAGES)
if sys.argv[1] == 'write':
    fd = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o644)
    os.ftruncate(fd, PAGES * 4096)
    cf = os.open(sys.argv[3], os.O_CREAT | os.O_RDWR, 0o644); os.ftruncate(cf, 8)
    m = mmap.mmap(cf, 8)
    i = 0
    for p in offs():
        i += 1
        os.pwrite(fd, struct.pack('<Q', i) * 512, p * 4096)
        m[0:8] = struct.pack('<Q', i)   # returned
else:
    L = int(sys.argv[3])
    want = {}
    g = offs()
    for i in range(1, L + 1):
        want[next(g)] = i
    fd = os.open(sys.argv[2], os.O_RDONLY)
    bad = 0
    for p, i in want.items():
        b = os.pread(fd, 8, p * 4096)
        got = struct.unpack('<Q', b)[0] if len(b) == 8 else 0
        if got < i:
            bad += 1
    print("L=%d pages=%d missing=%d" % (L, len(want), bad))
