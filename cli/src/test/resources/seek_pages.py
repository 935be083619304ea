"""Holes to the page (4 KiB) inside 64 KiB blocks, as lseek(SEEK_DATA/SEEK_HOLE) reports them.

Run as: seek_pages.py DIR PHASE. DIR holds base.bin (four 64 KiB blocks of nonzero bytes, from
the snapshot when DIR is a view). PHASE:
  write  makes f: 4 KiB pages of data at pages 0 and 3, at page 5 of block 1 and page 12 of
         block 4 (a page of data in the middle of a long hole), size 6 blocks, block 5
         fallocated; punches page 7 of base.bin's block 1 and zeroes pages 0-1 of its block 2
         (FALLOC_FL_ZERO_RANGE); prints the segments, nothing synced yet
  sync   fsyncs both, prints the segments (a view has stored its sub-block deltas)
  more   writes page 8 of f's block 0, fsyncs (a delta over a delta), prints the segments
  read   prints the segments (after a remount: the deltas read back from the store)
A segment is "data A-B" or "hole A-B" in pages, walked with SEEK_DATA and SEEK_HOLE from 0 to
the size. Every hole is checked to read as zeros, every byte of data as what was written.
"""
import ctypes
import os
import sys

P = 4096
B = 16 * P
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE = 0x01, 0x02, 0x10


def fallocate(fd, mode, off, length):
    if libc.fallocate(fd, mode, off, length) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def segments(path, fd=None):
    """The segments of path, walked through fd if given (kept open: no close, so no FLUSH that
    would make a view store the file's dirty blocks first)."""
    own = fd is None
    if own:
        fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        out = []
        off = 0
        while off < size:
            try:
                d = os.lseek(fd, off, os.SEEK_DATA)
            except OSError:
                d = size
            if d > off:
                out.append('hole %d-%d' % (off // P, d // P) if d % P == 0 and off % P == 0 else 'hole %d-%d' % (off, d))
                if os.pread(fd, d - off, off).strip(b'\0'):
                    out.append('NONZERO BYTES IN HOLE %d-%d' % (off, d))
            if d >= size:
                break
            h = os.lseek(fd, d, os.SEEK_HOLE)
            out.append('data %d-%d' % (d // P, h // P) if d % P == 0 and h % P == 0 else 'data %d-%d' % (d, h))
            off = h
        return ' '.join(out)
    finally:
        if own:
            os.close(fd)


def page(ch):
    return ch.encode() * P


def main():
    d, phase = sys.argv[1], sys.argv[2]
    f = os.path.join(d, 'f')
    base = os.path.join(d, 'base.bin')
    if phase == 'write':
        # walked before either file is closed: a view holds the pages as dirty blocks, not stored
        # (a seek makes the kernel send what it caches of the file first)
        fd = os.open(f, os.O_RDWR | os.O_CREAT, 0o644)
        for at, ch in ((0, 'a'), (3 * P, 'b'), (B + 5 * P, 'c'), (4 * B + 12 * P, 'd')):
            os.pwrite(fd, page(ch), at)
        os.ftruncate(fd, 6 * B)
        fallocate(fd, 0, 5 * B, B)
        bfd = os.open(base, os.O_RDWR)
        fallocate(bfd, PUNCH_HOLE | KEEP_SIZE, B + 7 * P, P)
        fallocate(bfd, ZERO_RANGE, 2 * B, 2 * P)
        print('f:', segments(f, fd))
        print('base.bin:', segments(base, bfd))
        os.close(fd)
        os.close(bfd)
    elif phase in ('sync', 'more'):
        if phase == 'more':
            fd = os.open(f, os.O_RDWR)
            os.pwrite(fd, page('e'), 8 * P)
            os.close(fd)
        for p in (f, base):
            fd = os.open(p, os.O_RDWR)
            os.fsync(fd)
            os.close(fd)
    if phase == 'write':
        return
    want = {0: b'a', 3: b'b', 16 + 5: b'c', 64 + 12: b'd'}
    if phase in ('more', 'read'):
        want[8] = b'e'
    with open(f, 'rb') as r:
        for pg, ch in want.items():
            r.seek(pg * P)
            if r.read(P) != ch * P:
                print('f: page %d does not hold what was written' % pg)
    print('f:', segments(f))
    print('base.bin:', segments(base))


main()
