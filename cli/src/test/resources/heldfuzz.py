#!/usr/bin/env python3
"""Random writes, cuts and grows on files held open in a mounted view, for a kill -9 of the mount
while they are still open (CrashFuzzIT).

  heldfuzz.py run DIR SEED OPS STATE   fuzz in DIR (a directory of a mounted view), then write
                                       what may be there after a kill to STATE (JSON), print
                                       "ready" and wait for a line on stdin with every file open
  heldfuzz.py check DIR STATE          compare DIR (the view remounted after the kill) with STATE;
                                       exit 1 with one line per difference

A few files start with data and an fsync, then are held open with O_DIRECT, so every write
reaches the mount at once and waits there for the file's next close or fsync (docs/DURABILITY.md).
The ops: pwrite (across 64 KiB blocks and past the end), ftruncate and truncate by path (cuts and
grows), fsync, fdatasync, close and reopen, an open-write-close through a second descriptor, an
open-close by a reader, link, unlink of a second name, rename, and mkdir beside them (a commit
that leaves the files' data waiting). Every op is checked at once: each file's bytes read back
through its descriptor equal the model's.

After a kill, a file must hold one of:
  - its bytes at its last data commit (fsync, close), cut to the smallest size a truncate gave it
    since (a cut is committed when it returns; docs/DURABILITY.md, "as last committed");
  - its bytes at some commit after that one (a commit may store data early: the dirty limit, the
    aged-writes persist, a file whose last waiting block a cut dropped).
Names, link counts and the directories made must be as they were at the kill: every namespace op
is committed when it returns.
"""
import hashlib
import json
import mmap
import os
import random
import sys

BS = 64 * 1024
FILES = 4


def sha(b):
    return hashlib.sha256(b).hexdigest()


class Held:
    def __init__(self, d, i, rng):
        self.names = ["f%d" % i]
        self.d = d
        self.cur = bytearray(rng.randbytes(rng.choice([0, 100, BS, BS + 7, 3 * BS - 5, 200000])))
        with open(self.path(), "wb") as f:
            f.write(self.cur)
            f.flush()
            os.fsync(f.fileno())
        self.data_commit()
        self.fd = self.open()

    def path(self):
        return os.path.join(self.d, self.names[0])

    def open(self):
        return os.open(self.path(), os.O_RDWR | os.O_DIRECT)

    def data_commit(self):
        self.committed = bytes(self.cur)
        self.cut = len(self.cur)
        self.since = []  # the file at each commit after its last data commit

    def commit_point(self):
        s = (len(self.cur), sha(self.cur))
        if not self.since or self.since[-1] != s:
            self.since.append(s)

    def resize(self, n):
        if n < len(self.cur):
            del self.cur[n:]
        else:
            self.cur.extend(bytes(n - len(self.cur)))

    def allowed(self):
        kept = self.committed[:min(len(self.committed), self.cut)]
        return [[len(kept), sha(kept)]] + [list(s) for s in self.since]


def run(d, seed, ops, state):
    rng = random.Random(seed)
    d = os.path.join(d, "held%d" % seed)
    os.mkdir(d)
    files = [Held(d, i, rng) for i in range(FILES)]
    dirs = []
    names = 0

    def check(op):
        for h in files:
            size = os.fstat(h.fd).st_size
            got = os.pread(h.fd, size + 1, 0) if size else b""
            if size != len(h.cur) or got != h.cur:
                first = next((i for i in range(min(len(got), len(h.cur))) if got[i] != h.cur[i]), min(len(got), len(h.cur)))
                sys.exit("op %d %s: %s reads %d bytes (stat %d), want %d; first difference at %d"
                         % (op, opname, h.names[0], len(got), size, len(h.cur), first))

    def commit_all():  # a commit: every file with data waiting is recorded
        for h in files:
            h.commit_point()

    for op in range(ops):
        h = rng.choice(files)
        r = rng.random()
        if r < 0.34:
            opname = "pwrite"
            off = rng.randrange(0, len(h.cur) + BS + 1)
            data = rng.randbytes(rng.choice([1, 100, 4096, BS - 3, BS, 70000]))
            os.pwrite(h.fd, data, off)
            if off > len(h.cur):
                h.resize(off)
            h.cur[off:off + len(data)] = data
        elif r < 0.50:
            opname = "ftruncate" if r < 0.42 else "truncate"
            n = rng.choice([0, 1, rng.randrange(0, len(h.cur) + 1), rng.randrange(0, 4 * BS), len(h.cur) + rng.randrange(1, BS)])
            if opname == "ftruncate":
                os.ftruncate(h.fd, n)
            else:
                os.truncate(h.path(), n)
            h.resize(n)
            h.cut = min(h.cut, n)
            commit_all()
        elif r < 0.58:
            opname = "fsync"
            (os.fsync if r < 0.54 else os.fdatasync)(h.fd)
            h.data_commit()
            commit_all()
        elif r < 0.63:
            opname = "reopen"
            os.close(h.fd)
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
            if off + len(data) > len(h.cur):
                h.resize(off + len(data))
            h.cur[off:off + len(data)] = data
            h.data_commit()
            commit_all()
        elif r < 0.71:
            opname = "read-close"  # a reader's close counts too
            with open(h.path(), "rb") as f:
                f.read(10)
            h.data_commit()
            commit_all()
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
        else:
            opname = "mkdir"
            n = "d%d" % len(dirs)
            os.mkdir(os.path.join(d, n))
            dirs.append(n)
            commit_all()
        check(op)
        print(op, opname, h.names[0], len(h.cur), flush=True)
    out = {"dir": os.path.basename(d), "dirs": dirs,
           "files": [{"names": sorted(h.names), "allowed": h.allowed()} for h in files]}
    with open(state, "w") as f:
        json.dump(out, f)
    print("ready", flush=True)
    sys.stdin.readline()


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
    elif sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
