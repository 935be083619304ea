#!/usr/bin/env python3
"""Random writes, cuts and grows on files held open in a mounted view, for a kill -9 of the mount
while they are still open (CrashFuzzIT).

  heldfuzz.py run DIR SEED OPS STATE   fuzz in DIR (a directory of a mounted view), then write
                                       what may be there after a kill to STATE (JSON), print
                                       "ready" and wait for a line on stdin with every file open
  heldfuzz.py make DIR SEED            the files run starts with, made in DIR (to import), so
                                       that run starts from a snapshot's files
  heldfuzz.py check DIR STATE          compare DIR (the view remounted after the kill) with STATE;
                                       exit 1 with one line per difference

A few files start with data and an fsync, then are held open with O_DIRECT, so every write
reaches the mount at once and waits there for the file's next close or fsync (docs/DURABILITY.md);
HELDFUZZ_BUFFERED=1 holds them open without it, and adds syncfs to the ops.
The ops: pwrite (across 64 KiB blocks and past the end), ftruncate and truncate by path (cuts and
grows), fallocate (mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE), copy_file_range between and within
the files, fsync, fdatasync, close and reopen, an open-write-close through a second descriptor, an
open-close by a reader, link, unlink of a second name, rename, and mkdir beside them (a commit
that leaves the files' data waiting). Every op is checked at once: each file's bytes read back
through its descriptor equal the model's.

With HELDFUZZ_BUFFERED=1 the model has two layers: what the file reads (the kernel's page cache)
and what the mount has of it (the pages the kernel has sent: at a close, fsync or syncfs, after a
truncate that changed the size, and from the start of a fallocate PUNCH_HOLE or ZERO_RANGE or of
either range of a copy_file_range to the end of the file). The states below are the mount's: a write still in the page cache is lost at a
kill, while a later truncate is kept, as on ext4 with delayed allocation.

After a kill, a file must hold its bytes at its last data commit (fsync, close) or at any commit
after it (a commit may store a file's data early: a truncate of a file with nothing waiting, the
dirty limit, the aged-writes persist), cut to the smallest size a truncate gave it after that
(a cut is committed when it returns, over what is stored; docs/DURABILITY.md, "as last
committed"). HELDFUZZ_ANY_COMMIT=1: a commit may follow any op (a mount whose aged-writes persist
runs every few hundred ms).
Names, link counts and the directories made must be as they were at the kill: every namespace op
is committed when it returns.
"""
import ctypes
import hashlib
import json
import mmap
import os
import random
import sys

BS = 64 * 1024
PAGE = 4096
FILES = 4
# the mount persists data on its own between ops (cowfs.persistAgedMillis set low): any op may be
# followed by a commit that stored every file as it was
ANY_COMMIT = os.environ.get("HELDFUZZ_ANY_COMMIT") == "1"
# the files are held open without O_DIRECT: writes wait in the kernel's page cache (the writeback
# cache) until a close, an fsync, or a syncfs (an op here) sends them to the mount, where they wait
# for a close; the kernel sends them before a truncate, a fallocate or a copy of the file too
BUFFERED = os.environ.get("HELDFUZZ_BUFFERED") == "1"
KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE = 0x01, 0x02, 0x10
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Held:
    """One file: cur is what it reads (the kernel's page cache over the mount), mnt what the mount
    has of it (its pages the kernel has sent; with O_DIRECT, cur itself), dirty the pages of cur
    the kernel has not sent yet, cands the states a commit may have stored, each with the
    smallest size a cut gave it since."""

    def __init__(self, d, i, rng):
        self.names = ["f%d" % i]
        self.d = d
        size = rng.choice([0, 100, BS, BS + 7, 3 * BS - 5, 200000])
        if os.path.exists(self.path()):  # made by "make" and imported: its blocks are the snapshot's
            with open(self.path(), "rb") as f:
                self.cur = bytearray(f.read())
        else:
            self.cur = bytearray(rng.randbytes(size))
            with open(self.path(), "wb") as f:
                f.write(self.cur)
                f.flush()
                os.fsync(f.fileno())
        self.mnt = bytearray(self.cur)
        self.dirty = set()
        self.data_commit()
        self.fd = self.open()

    def path(self):
        return os.path.join(self.d, self.names[0])

    def open(self):
        return os.open(self.path(), os.O_RDWR | (0 if BUFFERED else os.O_DIRECT))

    def write(self, off, data):  # what write(2) does to the file
        if off > len(self.cur):
            self.resize_cur(off)
        self.cur[off:off + len(data)] = data
        if BUFFERED:
            self.dirty.update(range(off // PAGE, (off + len(data) - 1) // PAGE + 1))
        else:
            self.mnt = bytearray(self.cur)

    def send(self, a=0):
        """The kernel sends its dirty pages from offset a to the end to the mount (fuse_writeback_range
        ignores the end of the range it is given)."""
        for p in sorted(self.dirty):
            lo, hi = p * PAGE, min((p + 1) * PAGE, len(self.cur))
            if hi <= a:
                continue
            self.dirty.discard(p)
            if lo >= hi:
                continue
            if len(self.mnt) < hi:
                self.mnt.extend(bytes(hi - len(self.mnt)))
            self.mnt[lo:hi] = self.cur[lo:hi]

    def data_commit(self):  # fsync, close: the mount stores what it has of the file
        self.cands = [[bytes(self.mnt), len(self.mnt)]]

    def commit_point(self):  # any commit may have stored the file as the mount has it
        if self.cands[-1][0] != self.mnt or self.cands[-1][1] != len(self.mnt):
            self.cands.append([bytes(self.mnt), len(self.mnt)])

    def cut_to(self, n):  # a cut is recorded when it returns, over whatever was stored
        for c in self.cands:
            c[1] = min(c[1], n)

    def resize_cur(self, n):
        resize(self.cur, n)

    def truncate(self, n):  # both sizes; the kernel drops its pages past n
        resize(self.cur, n)
        resize(self.mnt, n)
        self.dirty = {p for p in self.dirty if p * PAGE < n}

    def allowed(self):
        out = []
        for b, m in self.cands:
            s = [m, sha(b[:m])]
            if s not in out:
                out.append(s)
        return out


def resize(b, n):
    if n < len(b):
        del b[n:]
    else:
        b.extend(bytes(n - len(b)))


def run(d, seed, ops, state):
    rng = random.Random(seed)
    d = os.path.join(d, "held%d" % seed)
    os.makedirs(d, exist_ok=True)
    files = [Held(d, i, rng) for i in range(FILES)]
    dirs = []
    names = 0

    def check(op):
        for h in files:
            size = os.fstat(h.fd).st_size
            got = os.pread(h.fd, size + 1, 0) if size else b""
            if size != len(h.cur) or got != h.cur:
                first = next((i for i in range(min(len(got), len(h.cur))) if got[i] != h.cur[i]), min(len(got), len(h.cur)))
                sys.exit("op %d %s %s: %s reads %d bytes (stat %d), want %d; first difference at %d"
                         % (op, opname, args, h.names[0], len(got), size, len(h.cur), first))

    def commit_all():  # a commit: every file with data waiting is recorded
        for h in files:
            h.commit_point()

    for op in range(ops):
        h = rng.choice(files)
        r = rng.random()
        args = ""
        if r < 0.34:
            opname = "pwrite"
            off = rng.randrange(0, len(h.cur) + BS + 1)
            data = rng.randbytes(rng.choice([1, 100, 4096, BS - 3, BS, 70000]))
            os.pwrite(h.fd, data, off)
            args = "%d+%d" % (off, len(data))
            h.write(off, data)
        elif r < 0.50:
            opname = "ftruncate" if r < 0.42 else "truncate"
            n = rng.choice([0, 1, rng.randrange(0, len(h.cur) + 1), rng.randrange(0, 4 * BS), len(h.cur) + rng.randrange(1, BS)])
            if opname == "ftruncate":
                os.ftruncate(h.fd, n)
            else:
                os.truncate(h.path(), n)
            changed = n != len(h.cur)
            h.truncate(n)
            h.cut_to(n)
            args = str(n)
            commit_all()
            if changed:
                # after a truncate that changed the size the kernel writes its remaining dirty
                # pages of the file to the mount (invalidate_inode_pages2 launders them)
                h.send()
        elif r < 0.58:
            opname = "fsync"
            (os.fsync if r < 0.54 else os.fdatasync)(h.fd)
            h.send()
            h.data_commit()
            commit_all()
        elif r < 0.63:
            opname = "reopen"
            os.close(h.fd)
            h.send()
            h.data_commit()
            commit_all()
            h.fd = h.open()
        elif r < 0.67:
            opname = "write-close"  # a second descriptor through the page cache; its close commits
            off = rng.randrange(0, len(h.cur) + 1)
            data = rng.randbytes(rng.choice([5, 5000, BS + 11]))
            with open(h.path(), "r+b") as f:
                f.seek(off)
                f.write(data)
            h.write(off, data)
            h.send()
            h.data_commit()
            commit_all()
        elif r < 0.71:
            opname = "read-close"  # a reader's close counts too
            with open(h.path(), "rb") as f:
                f.read(10)
            h.send()
            h.data_commit()
            commit_all()
        elif r < 0.73 and BUFFERED:
            opname = "syncfs"  # the page cache's writes to the mount, where they wait for a close
            if LIBC.syncfs(h.fd) != 0:
                sys.exit("op %d syncfs: errno %d" % (op, ctypes.get_errno()))
            for g in files:
                g.send()
        elif r < 0.78:
            opname = "link"
            names += 1
            n = "l%d" % names
            os.link(h.path(), os.path.join(d, n))
            h.names.append(n)
            commit_all()
        elif r < 0.84:
            opname = "unlink"
            if len(h.names) > 1:
                n = h.names.pop(rng.randrange(1, len(h.names)))
                os.unlink(os.path.join(d, n))
                commit_all()
        elif r < 0.90:
            opname = "rename"
            names += 1
            n = "r%d" % names
            i = rng.randrange(len(h.names))
            os.rename(os.path.join(d, h.names[i]), os.path.join(d, n))
            h.names[i] = n
            commit_all()
        elif r < 0.93:
            opname = "fallocate"  # mode 0, KEEP_SIZE, PUNCH_HOLE, ZERO_RANGE (with and without KEEP_SIZE)
            off = rng.randrange(0, len(h.cur) + BS)
            n = rng.choice([1, 4096, BS, 2 * BS + 13])
            mode = rng.choice([0, KEEP_SIZE, PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE, ZERO_RANGE | KEEP_SIZE])
            if LIBC.fallocate(h.fd, mode, ctypes.c_long(off), ctypes.c_long(n)) != 0:
                sys.exit("op %d fallocate(%#x, %d, %d): errno %d" % (op, mode, off, n, ctypes.get_errno()))
            args = "%#x %d+%d" % (mode, off, n)
            if mode & (PUNCH_HOLE | ZERO_RANGE):
                h.send(off)  # the kernel sends its pages from the range's start to the end first
            for b in (h.cur, h.mnt):  # each as its own size says
                end = off + n if not mode & KEEP_SIZE else min(off + n, len(b))
                if end > len(b):
                    resize(b, end)
                if mode & (PUNCH_HOLE | ZERO_RANGE) and off < end:
                    b[off:end] = bytes(end - off)
            if mode & (PUNCH_HOLE | ZERO_RANGE):
                h.dirty = {p for p in h.dirty if not (off <= p * PAGE and (p + 1) * PAGE <= off + n)}
            commit_all()
        elif r < 0.96:
            opname = "copy_file_range"  # between two held files, or within one
            g = rng.choice(files)
            src_off = rng.randrange(0, len(g.cur) + 1)
            dst_off = rng.randrange(0, len(h.cur) + BS)
            n = rng.choice([1, 5000, BS, 3 * BS, len(g.cur)])
            if g is h and abs(src_off - dst_off) < n:
                n = abs(src_off - dst_off)  # overlapping ranges of one file are EINVAL
            if n:
                g.send(src_off)  # the kernel sends both files' pages from the ranges' starts first
                h.send(dst_off)
            copied = os.copy_file_range(g.fd, h.fd, n, src_off, dst_off) if n else 0
            data = bytes(g.mnt[src_off:src_off + copied])  # the mount copies what it has
            args = "from file %d %d+%d to %d: %d" % (files.index(g), src_off, n, dst_off, copied)
            for b in (h.cur, h.mnt):
                if copied and dst_off + copied > len(b):
                    resize(b, dst_off + copied)
                b[dst_off:dst_off + copied] = data
            h.dirty = {p for p in h.dirty if not (dst_off <= p * PAGE and (p + 1) * PAGE <= dst_off + copied)}
            commit_all()
        else:
            opname = "mkdir"
            n = "d%d" % len(dirs)
            os.mkdir(os.path.join(d, n))
            dirs.append(n)
            commit_all()
        if ANY_COMMIT:
            commit_all()
        check(op)
        print(op, opname, "file %d (%s)" % (files.index(h), h.names[0]), args, "size", len(h.cur), flush=True)
    out = {"dir": os.path.basename(d), "dirs": dirs,
           "files": [{"names": sorted(h.names), "allowed": h.allowed()} for h in files]}
    with open(state, "w") as f:
        json.dump(out, f)
    print("ready", flush=True)
    sys.stdin.readline()


def make(d, seed):
    """The files run would start with, in d (a host directory to import): the fuzz then starts
    from a snapshot's files, whose blocks the view shares until it writes them."""
    rng = random.Random(seed)
    d = os.path.join(d, "held%d" % seed)
    os.makedirs(d)
    for i in range(FILES):
        with open(os.path.join(d, "f%d" % i), "wb") as f:
            f.write(rng.randbytes(rng.choice([0, 100, BS, BS + 7, 3 * BS - 5, 200000])))


def check(root, state):
    with open(state) as f:
        s = json.load(f)
    d = os.path.join(root, s["dir"])
    bad = []
    want_names = sorted([n for h in s["files"] for n in h["names"]] + s["dirs"])
    if sorted(os.listdir(d)) != want_names:
        bad.append("names: %s, want %s" % (sorted(os.listdir(d)), want_names))
    for h in s["files"]:
        p = os.path.join(d, h["names"][0])
        if not os.path.exists(p):
            continue
        st = os.stat(p)
        if st.st_nlink != len(h["names"]):
            bad.append("%s: %d links, want %d" % (h["names"][0], st.st_nlink, len(h["names"])))
        for n in h["names"][1:]:
            if os.path.exists(os.path.join(d, n)) and os.stat(os.path.join(d, n)).st_ino != st.st_ino:
                bad.append("%s is not a link of %s" % (n, h["names"][0]))
        with open(p, "rb") as f:
            b = f.read()
        if [len(b), sha(b)] not in h["allowed"]:
            bad.append("%s: %d bytes, none of the %d allowed states (as last committed: %d bytes)"
                       % (h["names"][0], len(b), len(h["allowed"]), h["allowed"][0][0]))
    for n in s["dirs"]:
        if not os.path.isdir(os.path.join(d, n)):
            bad.append("directory %s missing" % n)
    for line in bad:
        print(line)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    elif sys.argv[1] == "make":
        make(sys.argv[2], int(sys.argv[3]))
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
