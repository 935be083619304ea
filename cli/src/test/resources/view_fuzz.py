#!/usr/bin/env python3
"""Seeded differential fuzz of a mounted cowfs view against a host directory (ViewFuzzIT).

  view_fuzz.py base SRC                       write the base tree (fixed content) into SRC
  view_fuzz.py run HOST VIEW SEED OPS [--proto] [--cowfs 'CMD PREFIX' --view-name V]
                                              apply the same random ops to HOST and VIEW, compare
  view_fuzz.py compare HOST VIEW              compare the two trees once (after a remount)

With --proto a snapshot is asked of the driver: '@@SNAP NAME' on stdout, the driver answers on
stdin with tab-separated directories holding that snapshot (an export, a read-only mount), the
script compares them with HOST and prints '@@SNAPDONE'. With --cowfs the script runs
'CMD snapshot V --name NAME' and 'CMD export NAME DIR' itself (by hand).

What is compared: the names, every file's bytes and st_size (through its path and through every
descriptor still open on it, unlinked ones included), the result or errno of every op, and the
hole semantics that do not depend on block size: bytes in a range SEEK_HOLE/SEEK_DATA report as a
hole read as zeros, SEEK_DATA never skips a nonzero byte, SEEK_DATA/SEEK_HOLE at or past EOF give
the host's errno (ENXIO). Not compared, on purpose: where the holes are (cowfs holes are whole
64 KiB blocks, the host's 4 KiB or unwritten extents), st_blocks, times, short counts of
copy_file_range (the loop copies until done, as cp does).
"""
import ctypes
import errno
import mmap
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile

B = 65536
P = 4096
M = 1 << 20
MAX_SIZE = 12 * M  # small files stay below this
BIG = 16 * M  # files over this are compared by their data ranges and samples of their holes
LPAGE = 2048 * B  # a block-list page of the store (BlockList.PAGE blocks): 128 MiB
BIG_MAX = 3 * LPAGE + 64 * M
LIBFUSE2 = os.environ.get('COWFS_FUSE_API') == 'libfuse2'  # the mount's adapter (MountCommand)
NAMES = ['b0', 'b1', 'b2', 'b3', 'n0', 'n1', 'd/n2', 'big']

libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
libc.fallocate.restype = ctypes.c_int
KEEP, PUNCH, ZERO = 0x01, 0x02, 0x10
FALLOC_MODES = [0, KEEP, PUNCH | KEEP, ZERO, ZERO | KEEP, PUNCH]  # PUNCH alone: EOPNOTSUPP on the host


class Mismatch(Exception):
    pass


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return 0


def base(src):
    """The imported snapshot's files: b0 3.3 MiB with a hole, b1 200 KiB + 1, b2 100 bytes, b3 empty."""
    r = random.Random(4242)
    os.makedirs(os.path.join(src, 'd'), exist_ok=True)
    with open(os.path.join(src, 'b0'), 'wb') as f:
        f.write(r.randbytes(B + 123))
        f.seek(3 * B)
        f.write(r.randbytes(2 * M + 7))
        f.write(bytes(B))  # a block of zeros (a hole in the store)
        f.write(r.randbytes(B // 2 + 11))
        f.truncate(3 * M + 300 * 1024 + 5)
    with open(os.path.join(src, 'b1'), 'wb') as f:
        f.write(r.randbytes(200 * 1024 + 1))
    with open(os.path.join(src, 'b2'), 'wb') as f:
        f.write(r.randbytes(100))
    open(os.path.join(src, 'b3'), 'wb').close()
    # a sparse file over two block-list pages: data at its start, across the first page edge,
    # after the second, and at its end
    with open(os.path.join(src, 'big'), 'wb') as f:
        f.write(r.randbytes(100 * 1024))
        f.seek(LPAGE - 70 * 1024)
        f.write(r.randbytes(140 * 1024 + 3))
        f.seek(2 * LPAGE + M)
        f.write(r.randbytes(2 * B))
        f.seek(2 * LPAGE + 5 * M + 123 - 1000)
        f.write(r.randbytes(1000))


def res(fn):
    try:
        v = fn()
        return ('ok', v)
    except OSError as e:
        return ('err', errno.errorcode.get(e.errno, str(e.errno)))


def read_all_fd(fd):
    size = os.fstat(fd).st_size
    chunks = []
    off = 0
    while off < size:
        b = os.pread(fd, min(4 * M, size - off), off)
        if not b:
            break
        chunks.append(b)
        off += len(b)
    return b''.join(chunks)


def read_path(p):
    fd = os.open(p, os.O_RDONLY)
    try:
        return read_all_fd(fd), os.fstat(fd).st_size
    finally:
        os.close(fd)


def is_zero(c, a, b):
    if b <= a:
        return True
    if isinstance(c, FdBytes):
        return c.first_nonzero(a, b) < 0
    return c.count(0, a, b) == b - a


CHUNK = M


class FdBytes:
    """The bytes of an open file, read on demand into one buffer (no copy of the file in memory)."""

    def __init__(self, fd, size):
        self.fd, self.size = fd, size
        self.buf = bytearray(CHUNK)

    def __len__(self):
        return self.size

    def first_nonzero(self, a, b):
        while a < b:
            n = min(CHUNK, b - a)
            mv = memoryview(self.buf)[:n]
            k = os.preadv(self.fd, [mv], a)
            if k <= 0:
                return -1
            chunk = self.buf if k == CHUNK else bytes(mv[:k])
            if chunk.count(0) != k:
                return a + len(chunk) - len(chunk.lstrip(b'\0'))
            a += k
        return -1


def cmp_stream(hfd, vfd, size):
    """Where the first size bytes of the two files differ (a description), or None."""
    bh, bv = bytearray(CHUNK), bytearray(CHUNK)
    off = 0
    while off < size:
        n = min(CHUNK, size - off)
        kh = os.preadv(hfd, [memoryview(bh)[:n]], off)
        kv = os.preadv(vfd, [memoryview(bv)[:n]], off)
        same = (bh == bv) if kh == kv == CHUNK else bytes(bh[:kh]) == bytes(bv[:kv])
        if not same:
            return first_diff(bytes(bh[:kh]), bytes(bv[:kv]), off)
        if kh < n:
            break
        off += n
    return None


def seek(fd, off, how):
    try:
        return os.lseek(fd, off, how)
    except OSError as e:
        return 'E' + errno.errorcode.get(e.errno, str(e.errno))


def first_nonzero(c, a, b):
    if isinstance(c, FdBytes):
        return c.first_nonzero(a, b)
    for i in range(a, b):
        if c[i]:
            return i
    return -1


def holes_ok(fd, c, tag, rng):
    """Hole semantics of fd whose bytes are c; returns a list of problems."""
    bad = []
    size = len(c)
    off = 0
    steps = 0
    while off < size and steps < 100000:
        steps += 1
        d = seek(fd, off, os.SEEK_DATA)
        if d == 'EENXIO':
            if not is_zero(c, off, size):
                bad.append('%s: SEEK_DATA(%d) ENXIO but byte %d is nonzero' % (tag, off, first_nonzero(c, off, size)))
            break
        if isinstance(d, str) or not off <= d <= size:
            bad.append('%s: SEEK_DATA(%d) = %s (size %d)' % (tag, off, d, size))
            break
        if not is_zero(c, off, d):
            bad.append('%s: SEEK_DATA(%d) = %d skips nonzero byte %d' % (tag, off, d, first_nonzero(c, off, d)))
        if d == size:
            break
        h = seek(fd, d, os.SEEK_HOLE)
        if isinstance(h, str) or not d < h <= size:
            bad.append('%s: SEEK_HOLE(%d) = %s (size %d)' % (tag, d, h, size))
            break
        off = h
    for _ in range(4):
        if size == 0:
            break
        o = rng.randrange(size)
        h = seek(fd, o, os.SEEK_HOLE)
        if isinstance(h, str) or not o <= h <= size:
            bad.append('%s: SEEK_HOLE(%d) = %s (size %d)' % (tag, o, h, size))
            continue
        if h < size:
            d = seek(fd, h, os.SEEK_DATA)
            end = size if d == 'EENXIO' else d
            if isinstance(end, str) or end < h:
                bad.append('%s: SEEK_DATA(%d) = %s after SEEK_HOLE(%d)' % (tag, h, d, o))
            elif not is_zero(c, h, end):
                bad.append('%s: hole [%d,%d) (SEEK_HOLE(%d)) holds nonzero byte %d' % (tag, h, end, o, first_nonzero(c, h, end)))
    return bad


def data_segments(fd, size, tag, bad):
    segs = []
    off = 0
    while off < size and len(segs) < 20000:
        d = seek(fd, off, os.SEEK_DATA)
        if d == 'EENXIO':
            break
        if isinstance(d, str) or not off <= d <= size:
            bad.append('%s: SEEK_DATA(%d) = %s (size %d)' % (tag, off, d, size))
            break
        if d == size:
            break
        h = seek(fd, d, os.SEEK_HOLE)
        if isinstance(h, str) or not d < h <= size:
            bad.append('%s: SEEK_HOLE(%d) = %s (size %d)' % (tag, d, h, size))
            break
        segs.append((d, h))
        off = h
    return segs


def merge(ranges):
    out = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def pread_all(fd, n, off):
    chunks = []
    while n > 0:
        b = os.pread(fd, min(n, 4 * M), off)
        if not b:
            break
        chunks.append(b)
        n -= len(b)
        off += len(b)
    return b''.join(chunks)


def samples(a, b, rng):
    """Pieces of [a, b) to read: all of it when small, else its edges and a few random pages."""
    if b - a <= 2 * M:
        return [(a, b)]
    out = [(a, a + B), (b - B, b)]
    for _ in range(8):
        o = rng.randrange(a, b - P)
        out.append((o, o + P))
    return out


def big_cmp(hfd, vfd, size, tag, rng):
    """A big sparse file: the data ranges of either side read whole, holes by samples."""
    bad = []
    hs = data_segments(hfd, size, tag + ' (host)', bad)
    vs = data_segments(vfd, size, tag, bad)
    both = hs + vs
    if sum(b - a for a, b in hs) > 4 * BIG:
        # the host holds much of it as data (ext4's copy_file_range writes the zeros of holes):
        # its data ranges outside the view's are read by samples, as the holes are
        both = vs + [(a, b) for a, b in hs if b - a <= 2 * M]
    ranges = merge([(a // B * B, min(size, -(-b // B) * B)) for a, b in both])
    for a, b in ranges:
        ch, cv = pread_all(hfd, b - a, a), pread_all(vfd, b - a, a)
        if ch != cv:
            bad.append('%s: bytes differ in [%d,%d) first at %s' % (tag, a, b, first_diff(ch, cv, a)))
    gaps = []
    prev = 0
    for a, b in ranges + [(size, size)]:
        if a > prev:
            gaps.append((prev, a))
        prev = max(prev, b)
    for a, b in gaps:
        for x, y in samples(a, b, rng):
            ch, cv = pread_all(hfd, y - x, x), pread_all(vfd, y - x, x)
            if ch != cv:
                bad.append('%s: bytes differ in sample [%d,%d) first at %s' % (tag, x, y, first_diff(ch, cv, x)))
    prev = 0
    for a, b in vs + [(size, size)]:
        if a > prev:  # a hole the view reports: zeros
            for x, y in samples(prev, a, rng):
                cv = pread_all(vfd, y - x, x)
                if not is_zero(cv, 0, len(cv)):
                    bad.append('%s: hole [%d,%d) holds nonzero byte %d' % (tag, prev, a, x + first_nonzero(cv, 0, len(cv))))
        prev = max(prev, b)
    return bad


def cmp_fds(hfd, vfd, tag, rng, holes=True):
    """st_size, bytes, hole semantics and seeks past EOF of the file open as vfd against hfd."""
    bad = []
    sh, sv = os.fstat(hfd).st_size, os.fstat(vfd).st_size
    if sh != sv:
        bad.append('%s: st_size host %d view %d' % (tag, sh, sv))
    if max(sh, sv) <= BIG:
        d = cmp_stream(hfd, vfd, max(sh, sv))
        if d:
            bad.append('%s: bytes differ (size %d/%d) first at %s' % (tag, sh, sv, d))
        if holes:
            bad += holes_ok(vfd, FdBytes(vfd, sv), tag, rng)
    else:
        bad += big_cmp(hfd, vfd, min(sh, sv), tag, rng)
    if holes:
        pe, pe_h = past_eof(vfd, sv), past_eof(hfd, sh)
        if pe != pe_h:
            bad.append('%s: seeks at/past EOF host %s view %s' % (tag, pe_h, pe))
    return bad


def zero_range(fd, a, b, rng):
    """The first nonzero byte found in [a, b) (all of it read when small, else samples), or -1."""
    for x, y in samples(a, b, rng) if b - a > BIG else [(a, b)]:
        c = pread_all(fd, y - x, x)
        i = first_nonzero_fast(c)
        if i >= 0:
            return x + i
    return -1


def first_nonzero_fast(c):
    if is_zero(c, 0, len(c)):
        return -1
    return len(c) - len(c.lstrip(b'\0'))


def past_eof(fd, size):
    return [seek(fd, size, os.SEEK_DATA), seek(fd, size + 1, os.SEEK_DATA), seek(fd, size + 5 * M, os.SEEK_DATA),
            seek(fd, size, os.SEEK_HOLE), seek(fd, size + B, os.SEEK_HOLE)]


def tree(root):
    out = {}
    for dp, dns, fns in os.walk(root):
        rel = os.path.relpath(dp, root)
        for n in dns:
            out[os.path.normpath(os.path.join(rel, n))] = 'dir'
        for n in fns:
            out[os.path.normpath(os.path.join(rel, n))] = 'file'
    return out


def compare_trees(host, other, tag, rng, holes=True):
    """Names, bytes, sizes and hole semantics of every file; returns problems."""
    bad = []
    th, to = tree(host), tree(other)
    if th != to:
        bad.append('%s: names differ: host %s other %s' % (tag, sorted(th.items()), sorted(to.items())))
    for n, kind in sorted(th.items()):
        if kind != 'file' or to.get(n) != 'file':
            continue
        fd = os.open(os.path.join(other, n), os.O_RDONLY)
        hfd = os.open(os.path.join(host, n), os.O_RDONLY)
        try:
            bad += cmp_fds(hfd, fd, '%s: %s' % (tag, n), rng, holes)
        finally:
            os.close(fd)
            os.close(hfd)
    return bad


def first_diff(a, b, base=0):
    n = min(len(a), len(b))
    lo = 0
    step = 1 << 16
    while lo < n and a[lo:lo + step] == b[lo:lo + step]:
        lo += step
    for i in range(lo, min(n, lo + step)):
        if a[i] != b[i]:
            j = i
            while j < n and a[j] != b[j]:
                j += 1
            return '%d (host %r other %r; differs to %d)' % (base + i, a[i:i + 8], b[i:i + 8], base + j)
    return 'length %d vs %d' % (len(a), len(b))


class Fuzz:
    def __init__(self, host, view, seed, ops, proto, cowfs, view_name):
        self.host, self.view = host, view
        self.seed = seed
        self.rng = random.Random(seed)
        self.nops = ops
        self.proto = proto
        self.cowfs = cowfs
        self.view_name = view_name
        self.log = []
        self.handles = {}  # id -> dict(h=fd, v=fd, name=..., append=bool)
        self.next_handle = 0
        self.snaps = 0
        self.dirty = set()
        # ops not run (VIEW_FUZZ_SKIP=op,op)
        self.skip = set(filter(None, os.environ.get('VIEW_FUZZ_SKIP', '').split(',')))

    # -------------------------------------------------------------- helpers
    def p(self, root, name):
        return os.path.join(root, name)

    def host_size(self, name):
        try:
            return os.stat(self.p(self.host, name)).st_size
        except OSError:
            return 0

    @staticmethod
    def cap(size):
        return BIG_MAX if size > BIG else MAX_SIZE

    def pick_off(self, size):
        r = self.rng.random()
        if size > BIG and r < 0.6:
            # a big sparse file: near the edges of block-list pages, near its end, in its holes
            r = self.rng.random()
            if r < 0.5:
                off = self.rng.randrange(0, size // LPAGE + 2) * LPAGE + self.rng.randint(-3, 3) * B + self.rng.choice([0, 0, self.rng.randint(-20, 20)])
            elif r < 0.8:
                off = size + self.rng.randint(-3 * B, 2 * B)
            else:
                off = self.rng.randrange(0, size)
            return max(0, min(off, BIG_MAX - 1))
        if r < 0.35:
            off = self.rng.randrange(0, size // B + 3) * B + self.rng.randint(-20, 20)
        elif r < 0.55:
            off = self.rng.randrange(0, size // P + 3) * P + self.rng.randint(-3, 3)
        elif r < 0.85:
            off = self.rng.randrange(0, size + 1)
        elif r < 0.96:
            off = size + self.rng.randrange(0, 3 * B)
        else:
            off = size + self.rng.randrange(0, 4 * M)
        return max(0, min(off, self.cap(size) - 1))

    def pick_len(self):
        r = self.rng.random()
        if r < 0.25:
            n = self.rng.randint(1, 100)
        elif r < 0.45:
            n = P + self.rng.randint(-3, 3)
        elif r < 0.65:
            n = B * self.rng.randint(1, 2) + self.rng.randint(-20, 20)
        elif r < 0.9:
            n = self.rng.randint(1, 3 * B)
        else:
            n = self.rng.randint(1, M + B)
        return max(1, n)

    def data(self, n):
        r = self.rng.random()
        if r < 0.7:
            return self.rng.randbytes(n)
        if r < 0.85:
            return bytes(n)  # zeros: may become holes
        pat = self.rng.randbytes(self.rng.randint(1, 7))
        return (pat * (n // len(pat) + 1))[:n]

    def both(self, desc, fh, fv, compare=True):
        """Runs fh on the host, fv in the view; the results (or errnos) must agree."""
        self.log.append(desc)
        rh = res(fh)
        rv = res(fv)
        if (rh, rv) == (('err', 'EEXIST'), ('err', 'ENOTEMPTY')) and desc.startswith(('rename', 'rmdir')):
            rh = rv  # a non-empty directory: POSIX allows either; XFS says EEXIST, ext4 and views ENOTEMPTY
        if compare and rh != rv:
            raise Mismatch('op %r: host %s view %s' % (desc, short(rh), short(rv)))
        return rh

    def handle(self):
        if not self.handles:
            return None
        k = self.rng.choice(sorted(self.handles))
        return k, self.handles[k]

    def open_handle(self, name, flags):
        fl = os.O_RDWR | flags
        desc = 'open %s %s -> h%d' % (name, flag_names(flags), self.next_handle)
        self.log.append(desc)
        rh = res(lambda: os.open(self.p(self.host, name), fl, 0o644))
        rv = res(lambda: os.open(self.p(self.view, name), fl, 0o644))
        if rh[0] != rv[0] or (rh[0] == 'err' and rh != rv):
            for r in (rh, rv):
                if r[0] == 'ok':
                    os.close(r[1])
            raise Mismatch('op %r: host %s view %s' % (desc, rh, rv))
        if rh[0] == 'ok':
            self.handles[self.next_handle] = dict(h=rh[1], v=rv[1], name=name, append=bool(flags & os.O_APPEND))
            self.next_handle += 1
        self.dirty.add(name)

    # -------------------------------------------------------------- ops
    def op_pwrite(self):
        hd = self.handle()
        if hd is None or self.rng.random() < 0.3:
            name = self.rng.choice(NAMES)
            size = self.host_size(name)
            off = self.pick_off(size)
            buf = self.data(max(1, min(self.pick_len(), self.cap(size) - off)))

            def w(root):
                fd = os.open(self.p(root, name), os.O_WRONLY | os.O_CREAT, 0o644)
                try:
                    return os.pwrite(fd, buf, off)
                finally:
                    os.close(fd)
            self.both('pwrite(path) %s off=%d len=%d' % (name, off, len(buf)), lambda: w(self.host), lambda: w(self.view))
            self.dirty.add(name)
            return
        k, h = hd
        size = os.fstat(h['h']).st_size
        off = self.pick_off(size)
        buf = self.data(max(1, min(self.pick_len(), self.cap(size) - off)))
        self.both('pwrite h%d off=%d len=%d%s' % (k, off, len(buf), ' (O_APPEND)' if h['append'] else ''),
                  lambda: os.pwrite(h['h'], buf, off), lambda: os.pwrite(h['v'], buf, off))
        self.dirty.add(h['name'])

    def op_append(self):
        name = self.rng.choice(NAMES)
        if self.host_size(name) > MAX_SIZE - 2 * M:
            return
        buf = self.data(self.pick_len() % (300 * 1024) + 1)
        keep = self.rng.random() < 0.3
        if keep:
            # through a descriptor kept open with O_APPEND
            app = [k for k, h in self.handles.items() if h['append']]
            if not app:
                self.open_handle(name, os.O_APPEND | os.O_CREAT)
                app = [k for k, h in self.handles.items() if h['append']]
                if not app:
                    return
            k = self.rng.choice(app)
            h = self.handles[k]
            if os.fstat(h['h']).st_size > MAX_SIZE - 2 * M:
                return
            self.both('write h%d (O_APPEND) len=%d' % (k, len(buf)), lambda: os.write(h['h'], buf), lambda: os.write(h['v'], buf))
            self.dirty.add(h['name'])
            return

        def a(root):
            fd = os.open(self.p(root, name), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                n = os.write(fd, buf)
                return n, os.lseek(fd, 0, os.SEEK_CUR)
            finally:
                os.close(fd)
        self.both('append %s len=%d' % (name, len(buf)), lambda: a(self.host), lambda: a(self.view))
        self.dirty.add(name)

    def new_size(self, size):
        r = self.rng.random()
        if size > BIG and r < 0.7:
            r = self.rng.random()
            if r < 0.6:
                s = self.rng.randrange(0, size // LPAGE + 2) * LPAGE + self.rng.randint(-3, 3) * B + self.rng.choice([0, self.rng.randint(-20, 20)])
            else:
                s = size + self.rng.randint(-3 * B, 3 * B)
            return max(0, min(s, BIG_MAX))
        if r < 0.01:
            return LPAGE + self.rng.randint(-B, 3 * B)  # a small file grown past a block-list page
        if r < 0.3:
            s = self.rng.randrange(0, size + 1)
        elif r < 0.6:
            s = self.rng.randrange(0, max(size, B) // B + 3) * B + self.rng.randint(-20, 20)
        elif r < 0.8:
            s = size + self.rng.randrange(0, 3 * B)
        else:
            s = self.rng.randrange(0, 4 * M)
        return max(0, min(s, self.cap(size)))

    def op_truncate(self):
        name = self.rng.choice(NAMES)
        s = self.new_size(self.host_size(name))
        self.both('truncate %s %d' % (name, s), lambda: os.truncate(self.p(self.host, name), s),
                  lambda: os.truncate(self.p(self.view, name), s))
        self.dirty.add(name)

    def op_ftruncate(self):
        hd = self.handle()
        if hd is None:
            return self.op_truncate()
        k, h = hd
        s = self.new_size(os.fstat(h['h']).st_size)
        self.both('ftruncate h%d %d' % (k, s), lambda: os.ftruncate(h['h'], s), lambda: os.ftruncate(h['v'], s))
        self.dirty.add(h['name'])

    def op_fallocate(self):
        hd = self.handle()
        if hd is None:
            self.open_handle(self.rng.choice(NAMES), os.O_CREAT)
            hd = self.handle()
            if hd is None:
                return
        k, h = hd
        size = os.fstat(h['h']).st_size
        mode = self.rng.choice(FALLOC_MODES)
        off = self.pick_off(size)
        r = self.rng.random()
        if r < 0.05:
            length = 0
        elif r < 0.5:
            length = self.pick_len()
        else:
            length = self.rng.randrange(0, 4 * B) + self.rng.randint(-20, 20)
        length = max(0 if r < 0.05 else 1, min(length, self.cap(size) - off))
        desc = 'fallocate h%d mode=%#x off=%d len=%d' % (k, mode, off, length)
        self.log.append(desc)
        rh = res(lambda: fallocate(h['h'], mode, off, length))
        if rh in (('err', 'EOPNOTSUPP'), ('err', 'ENOTSUP')):  # one errno (95), named either way
            return  # a mode the host refuses (tmpfs: ZERO_RANGE): not run in the view (cowfs may accept it)
        rv = res(lambda: fallocate(h['v'], mode, off, length))
        if rh != rv:
            raise Mismatch('op %r: host %s view %s' % (desc, rh, rv))
        self.dirty.add(h['name'])

    def op_copy(self):
        """copy_file_range between files (or within one), looping until done as cp does."""
        ks = sorted(self.handles)
        if len(ks) < 1:
            self.open_handle(self.rng.choice(NAMES), os.O_CREAT)
            return
        ka, kb = self.rng.choice(ks), self.rng.choice(ks)
        a, b = self.handles[ka], self.handles[kb]
        if b['append']:
            return  # copy_file_range to an O_APPEND fd is EBADF on both; covered once below
        sa = os.fstat(a['h']).st_size
        sb = os.fstat(b['h']).st_size
        if self.rng.random() < 0.5:
            src_off = self.rng.randrange(0, sa // B + 2) * B + (self.rng.randint(-20, 20) if self.rng.random() < 0.5 else 0)
            dst_off = self.rng.randrange(0, sb // B + 2) * B + (self.rng.randint(-20, 20) if self.rng.random() < 0.5 else 0)
        else:
            src_off = self.pick_off(sa)
            dst_off = self.pick_off(sb)
        src_off, dst_off = max(0, src_off), max(0, dst_off)
        r = self.rng.random()
        if r < 0.4:
            count = self.rng.randint(1, 4) * B + (self.rng.randint(-20, 20) if self.rng.random() < 0.5 else 0)
        else:
            count = self.pick_len()
        count = max(1, min(count, self.cap(sb) - dst_off))
        same = os.path.samestat(os.fstat(a['h']), os.fstat(b['h']))

        def cp(fa, fb):
            done = 0
            while done < count:
                n = os.copy_file_range(fa, fb, count - done, src_off + done, dst_off + done)
                if n == 0:
                    break
                done += n
            return done
        desc = 'copy_file_range h%d[%d] -> h%d[%d] count=%d%s' % (ka, src_off, kb, dst_off, count, ' (same file)' if same else '')
        self.both(desc, lambda: cp(a['h'], b['h']), lambda: cp(a['v'], b['v']))
        self.dirty.add(b['name'])

    def op_clone(self):
        """What cp does: an empty file, copy_file_range from offset 0 to 0 (cowfs clones the block
        list); the whole source or a part ending on a block edge or inside a block."""
        ks = [k for k, h in self.handles.items() if not h['append']]
        if len(ks) < 2:
            self.open_handle(self.rng.choice(NAMES), os.O_CREAT)
            return
        ka, kb = self.rng.sample(ks, 2)
        a, b = self.handles[ka], self.handles[kb]
        if os.path.samestat(os.fstat(a['h']), os.fstat(b['h'])):
            return
        self.both('ftruncate h%d 0' % kb, lambda: os.ftruncate(b['h'], 0), lambda: os.ftruncate(b['v'], 0))
        sa = os.fstat(a['h']).st_size
        r = self.rng.random()
        if r < 0.5 or sa == 0:
            count = sa + self.rng.choice([0, 0, 1, B])
        elif r < 0.75:
            count = max(1, sa // B * B - self.rng.randrange(0, 3) * B)
        else:
            count = self.rng.randrange(1, sa + 1)
        count = max(1, count)

        def cp(fa, fb):
            done = 0
            while done < count:
                n = os.copy_file_range(fa, fb, count - done, done, done)
                if n == 0:
                    break
                done += n
            return done
        self.both('clone h%d -> h%d count=%d (source size %d)' % (ka, kb, count, sa), lambda: cp(a['h'], b['h']), lambda: cp(a['v'], b['v']))
        self.dirty.add(b['name'])

    def op_rewrite(self):
        """Small rewrites of one block, each made durable (fsync or close): the view stores them
        as chains of sub-block deltas, folded every 8 links."""
        name = self.rng.choice(NAMES)
        size = self.host_size(name)
        if size == 0:
            return
        blk = self.rng.randrange(0, (size - 1) // B + 1)
        rounds = self.rng.randint(2, 12)
        for i in range(rounds):
            off = blk * B + self.rng.choice([0, P, 5 * P, B - P, self.rng.randrange(0, B)]) + self.rng.choice([0, 0, self.rng.randint(-5, 5)])
            off = max(0, min(off, size - 1))
            buf = self.data(self.rng.choice([1, 100, P, P + 1, 2 * P]))
            close = self.rng.random() < 0.4

            def w(root):
                fd = os.open(self.p(root, name), os.O_WRONLY)
                try:
                    n = os.pwrite(fd, buf, off)
                    if not close:
                        os.fsync(fd)
                    return n
                finally:
                    os.close(fd)
            self.both('rewrite %s off=%d len=%d %s' % (name, off, len(buf), 'close' if close else 'fsync'),
                      lambda: w(self.host), lambda: w(self.view))
        self.dirty.add(name)

    def op_remount(self):
        """Every descriptor closed, the view unmounted and mounted again (its state read back)."""
        for k in sorted(self.handles):
            self.op_close_handle(k)
        self.log.append('remount')
        if self.proto:
            print('@@REMOUNT', flush=True)
            self.view = sys.stdin.readline().rstrip('\n')
        elif self.cowfs:
            cmd = shlex.split(self.cowfs)
            subprocess.run(cmd + ['umount', self.view], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(cmd + ['mount', self.view_name, self.view], check=True, stdout=subprocess.DEVNULL)
        else:
            return
        self.dirty.update(NAMES)

    def op_close_handle(self, k):
        h = self.handles.pop(k)
        self.both('close h%d' % k, lambda: os.close(h['h']), lambda: os.close(h['v']))

    def op_direct(self):
        """An O_DIRECT write or read (4 KiB aligned, as ext4 wants) beside the cached descriptors."""
        name = self.rng.choice(NAMES)
        size = self.host_size(name)
        off = self.rng.randrange(0, min(size, MAX_SIZE - 2 * B) // P + 2) * P
        n = self.rng.choice([P, 2 * P, B, B + P, 5 * B])
        write = self.rng.random() < 0.6
        buf = mmap.mmap(-1, n)  # page-aligned memory
        buf.write(self.data(n))

        def d(root):
            fd = os.open(self.p(root, name), (os.O_RDWR if write else os.O_RDONLY) | os.O_DIRECT)
            try:
                if write:
                    return os.pwritev(fd, [buf], off)
                out = mmap.mmap(-1, n)
                k = os.preadv(fd, [out], off)
                return bytes(out[:k])
            finally:
                os.close(fd)
        self.both('O_DIRECT %s %s off=%d len=%d' % ('pwrite' if write else 'pread', name, off, n), lambda: d(self.host), lambda: d(self.view))
        if write:
            self.dirty.add(name)

    def op_mmap_write(self):
        hd = self.handle()
        if hd is None:
            return
        k, h = hd
        size = os.fstat(h['h']).st_size
        if size == 0 or h['append']:
            return
        start = self.rng.randrange(0, size) // P * P
        length = min(size - start, self.rng.choice([P, B, 3 * B + 5, 300 * 1024]))
        writes = []
        for _ in range(self.rng.randint(1, 4)):
            o = self.rng.randrange(0, length)
            n = min(length - o, self.rng.randint(1, 2 * P + 100))
            writes.append((o, self.data(n)))

        def mw(fd):
            m = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
            try:
                for o, d in writes:
                    m[o:o + len(d)] = d
                m.flush()
                return m[:]
            finally:
                m.close()
        desc = 'mmap write h%d [%d,+%d) %s' % (k, start, length, [(o, len(d)) for o, d in writes])
        rh = self.both(desc, lambda: mw(h['h']), lambda: mw(h['v']))
        self.dirty.add(h['name'])

    def op_mmap_read(self):
        hd = self.handle()
        if hd is None:
            return
        k, h = hd
        size = os.fstat(h['h']).st_size
        if size == 0:
            return
        start = self.rng.randrange(0, size) // P * P
        length = min(size - start, self.rng.choice([P, B + 7, 5 * B, M]))

        def mr(fd):
            m = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ, offset=start)
            try:
                return m[:]
            finally:
                m.close()
        self.both('mmap read h%d [%d,+%d)' % (k, start, length), lambda: mr(h['h']), lambda: mr(h['v']))

    def op_pread(self):
        hd = self.handle()
        if hd is None:
            return
        k, h = hd
        size = os.fstat(h['h']).st_size
        off = self.pick_off(size)
        n = self.pick_len()
        self.both('pread h%d off=%d len=%d' % (k, off, n), lambda: os.pread(h['h'], n, off), lambda: os.pread(h['v'], n, off))
        self.both('fstat h%d size' % k, lambda: os.fstat(h['h']).st_size, lambda: os.fstat(h['v']).st_size)

    def op_open(self):
        name = self.rng.choice(NAMES)
        r = self.rng.random()
        flags = os.O_CREAT if r < 0.6 else (os.O_APPEND | os.O_CREAT if r < 0.75 else (os.O_TRUNC | os.O_CREAT if r < 0.85 else 0))
        if len(self.handles) >= 8:
            self.op_close()
        self.open_handle(name, flags)

    def op_close(self):
        hd = self.handle()
        if hd is None:
            return
        k, h = hd
        del self.handles[k]
        self.both('close h%d' % k, lambda: os.close(h['h']), lambda: os.close(h['v']))

    def op_fsync(self):
        hd = self.handle()
        if hd is None:
            return
        k, h = hd
        fn = os.fsync if self.rng.random() < 0.7 else os.fdatasync
        self.both('%s h%d' % (fn.__name__, k), lambda: fn(h['h']), lambda: fn(h['v']))

    def op_rename(self):
        a, b = self.rng.choice(NAMES), self.rng.choice(NAMES)
        self.both('rename %s %s' % (a, b), lambda: os.rename(self.p(self.host, a), self.p(self.host, b)),
                  lambda: os.rename(self.p(self.view, a), self.p(self.view, b)))
        for h in self.handles.values():
            if h['name'] == a:
                h['name'] = b
        self.dirty.update([a, b])

    def op_unlink(self):
        a = self.rng.choice(NAMES)
        self.both('unlink %s' % a, lambda: os.unlink(self.p(self.host, a)), lambda: os.unlink(self.p(self.view, a)))
        for h in self.handles.values():
            if h['name'] == a:
                h['name'] = '(unlinked %s)' % a
        self.dirty.add(a)

    def op_seek(self):
        hd = self.handle()
        if hd is None:
            return
        k, h = hd
        size = os.fstat(h['h']).st_size
        off = size + self.rng.choice([0, 1, B, 3 * M]) if self.rng.random() < 0.5 else self.pick_off(size)
        how = self.rng.choice([os.SEEK_DATA, os.SEEK_HOLE])
        desc = 'lseek h%d %d %s' % (k, off, 'SEEK_DATA' if how == os.SEEK_DATA else 'SEEK_HOLE')
        self.log.append(desc)
        rh, rv = seek(h['h'], off, how), seek(h['v'], off, how)
        # positions may differ (hole granularity; cowfs stores blocks of zeros as holes, so its
        # SEEK_DATA may say ENXIO where the host has zeros as data); past EOF both are ENXIO
        if off >= size or (isinstance(rh, str) and rh != 'EENXIO') or (isinstance(rv, str) and rv != 'EENXIO'):
            if rh != rv:
                raise Mismatch('op %r: host %s view %s' % (desc, rh, rv))
            return
        if rv == 'EENXIO':
            nz = zero_range(h['v'], off, size, self.rng)
            if how == os.SEEK_HOLE or nz >= 0:
                raise Mismatch('op %r: view ENXIO (host %s) but byte %d is nonzero' % (desc, rh, nz))
            return
        if how == os.SEEK_DATA:
            nz = zero_range(h['v'], off, min(rv, size), self.rng)
            if nz >= 0:
                raise Mismatch('op %r: view %d skips nonzero byte %d' % (desc, rv, nz))
        if how == os.SEEK_HOLE and not off <= rv <= size:
            raise Mismatch('op %r: view %s outside [%d, %d]' % (desc, rv, off, size))

    def op_snapshot(self):
        name = 'fz%d-%d' % (self.seed, self.snaps)
        self.snaps += 1
        maps = []
        hd = self.handle()
        if hd is not None and self.rng.random() < 0.5 and not hd[1]['append'] and os.fstat(hd[1]['h']).st_size > 0:
            # a mapping written and not msynced: its pages are dirty in the kernel while frozen
            k, h = hd
            size = os.fstat(h['h']).st_size
            start = self.rng.randrange(0, size) // P * P
            length = min(size - start, self.rng.choice([P, B, 200 * 1024]))
            o = self.rng.randrange(0, length)
            d = self.data(min(length - o, self.rng.randint(1, 3 * P)))
            for fd in (h['h'], h['v']):
                m = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE, offset=start)
                m[o:o + len(d)] = d
                maps.append(m)
            if LIBFUSE2:
                # README "Known limits": a snapshot of a view mounted through libfuse2 may miss
                # bytes written through a mapping and not msynced; msync them there
                maps[-1].flush()
            self.log.append('mmap write (%s, kept mapped over the snapshot) h%d [%d,+%d) at %d len %d'
                            % ('msync: libfuse2' if LIBFUSE2 else 'no msync', k, start, length, o, len(d)))
            self.dirty.add(h['name'])
        self.log.append('snapshot %s' % name)
        dirs, done = self.take_snapshot(name)
        for m in maps:
            m.close()
        bad = []
        for d in dirs:
            bad += compare_trees(self.host, d, 'snapshot %s at %s' % (name, d), self.rng)
        done()
        if bad:
            raise Mismatch('\n'.join(bad))

    def take_snapshot(self, name):
        if self.proto:
            print('@@SNAP ' + name, flush=True)
            line = sys.stdin.readline().rstrip('\n')
            dirs = [d for d in line.split('\t') if d]

            def done():
                print('@@SNAPDONE', flush=True)
                sys.stdin.readline()
            return dirs, done
        if self.cowfs:
            cmd = shlex.split(self.cowfs)
            subprocess.run(cmd + ['snapshot', self.view_name, '--name', name], check=True, stdout=subprocess.DEVNULL)
            out = tempfile.mkdtemp(prefix='fz-export-')
            os.rmdir(out)
            subprocess.run(cmd + ['export', name, out], check=True, stdout=subprocess.DEVNULL)
            return [out], lambda: shutil.rmtree(out)
        return [], lambda: None

    OPS = [('pwrite', 22), ('append', 6), ('truncate', 5), ('ftruncate', 5), ('fallocate', 14), ('copy', 10), ('clone', 3), ('rewrite', 4), ('direct', 3),
           ('mmap_write', 6), ('mmap_read', 3), ('pread', 8), ('open', 7), ('close', 4), ('fsync', 3),
           ('rename', 3), ('unlink', 2), ('seek', 4)]

    def check(self, final=False):
        bad = []
        names = set(NAMES) if final else set(self.dirty)
        th, tv = tree(self.host), tree(self.view)
        if th != tv:
            bad.append('names differ: host %s view %s' % (sorted(th), sorted(tv)))
        for n in sorted(names):
            if th.get(n) != 'file' or tv.get(n) != 'file':
                continue
            fd = os.open(self.p(self.view, n), os.O_RDONLY)
            hfd = os.open(self.p(self.host, n), os.O_RDONLY)
            try:
                bad += cmp_fds(hfd, fd, n, self.rng)
            finally:
                os.close(fd)
                os.close(hfd)
        # through the descriptors still open (cached pages of older opens; unlinked files)
        for k, h in sorted(self.handles.items()):
            if not final and h['name'] not in names and not h['name'].startswith('(unlinked'):
                continue
            bad += cmp_fds(h['h'], h['v'], 'h%d (%s)' % (k, h['name']), self.rng, holes=False)
        self.dirty.clear()
        if bad:
            raise Mismatch('\n'.join(bad))

    def run(self, snapshots, remounts):
        ops = [(n, w) for n, w in self.OPS if n not in self.skip]
        names = [n for n, w in ops]
        weights = [w for n, w in ops]
        snap_at = set(self.rng.sample(range(1, self.nops), min(snapshots, self.nops - 1))) if self.nops > 1 else set()
        remount_at = set(self.rng.sample(range(1, self.nops), min(remounts, self.nops - 1))) if self.nops > 1 else set()
        for i in range(self.nops):
            op = self.rng.choices(names, weights)[0]
            self.log.append('#%d' % i)
            getattr(self, 'op_' + op)()
            if i in snap_at:
                self.op_snapshot()
            if i in remount_at:
                self.op_remount()
            if self.rng.random() < 0.2:
                self.check()
        self.check(final=True)
        for k, h in sorted(self.handles.items()):
            os.close(h['h'])
            os.close(h['v'])
        self.handles.clear()
        self.check(final=True)


def short(r):
    kind, v = r
    if isinstance(v, (bytes, bytearray)):
        return '%s(%d bytes, sha %s)' % (kind, len(v), __import__('hashlib').sha256(v).hexdigest()[:12])
    return '%s(%r)' % (kind, v)


def flag_names(flags):
    out = [n for n, f in (('O_CREAT', os.O_CREAT), ('O_APPEND', os.O_APPEND), ('O_TRUNC', os.O_TRUNC)) if flags & f]
    return '|'.join(out) or 'O_RDWR'


def main():
    mode = sys.argv[1]
    if mode == 'base':
        base(sys.argv[2])
        return 0
    if mode == 'compare':
        bad = compare_trees(sys.argv[2], sys.argv[3], 'compare', random.Random(1))
        if bad:
            print('MISMATCH\n' + '\n'.join(bad))
            return 1
        print('compare ok')
        return 0
    host, view, seed, ops = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    rest = sys.argv[6:]
    proto = '--proto' in rest
    cowfs = rest[rest.index('--cowfs') + 1] if '--cowfs' in rest else None
    view_name = rest[rest.index('--view-name') + 1] if '--view-name' in rest else None
    snapshots = int(rest[rest.index('--snapshots') + 1]) if '--snapshots' in rest else 1
    remounts = int(rest[rest.index('--remounts') + 1]) if '--remounts' in rest else 0
    f = Fuzz(host, view, seed, ops, proto, cowfs, view_name)
    try:
        f.run(snapshots if (proto or cowfs) else 0, remounts if (proto or cowfs) else 0)
    except Mismatch as e:
        print('MISMATCH seed=%d ops=%d\n%s\n--- op log (%d ops) ---\n%s' % (seed, ops, e, sum(1 for l in f.log if l.startswith('#')),
                                                                          '\n'.join(f.log)), flush=True)
        return 1
    print('seed %d: %d ops ok' % (seed, ops), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
