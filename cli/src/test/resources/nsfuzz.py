#!/usr/bin/env python3
"""Differential fuzz of namespace and metadata operations: one seeded random sequence of
operations applied to a host directory (the control, ext4-like) and to a mounted cowfs view that
start as the same tree. Every result (value or errno name) must match, and the trees are compared
every few operations and at the end.

  nsfuzz.py run HOST VIEW SEED NOPS SNAPDIR   (prints "@@SNAP name" and waits for a line on stdin
                                               after copying HOST to SNAPDIR/name; "@@DONE" at the end)
  nsfuzz.py compare A B [MTIMES.json]         (exit 1 and a report on any difference)
  nsfuzz.py matches HISTORY VIEW              (exit 1 unless VIEW is one of the last states recorded)

For a driver that kills the mount (CrashFuzzIT), in the environment of run:
  NSFUZZ_CLOSE_AT_SNAP=1   close every descriptor (and write SNAPDIR/name.log) before the copy
  NSFUZZ_HISTORY=FILE      a JSON line per op: the host's tree after it (the view must be one)
  NSFUZZ_SKIP=op,op        leave these ops out (open, fdio, close: descriptors stay out)

Intended differences, tolerated (README "Known limits", docs/DESIGN-DECISIONS.md):
  * atime, ctime, st_blocks, st_ino, st_dev, st_size of directories: never compared.
  * names that are not UTF-8: a view refuses to create them (EINVAL, README "Known limits");
    the fuzzer checks that, then undoes the host's side.
  * renameat2(RENAME_EXCHANGE): EINVAL in a view (DESIGN-DECISIONS section 10); checked, and
    the host's exchange undone.
  * names that are not UTF-8 reached through a symlink (open(O_CREAT) of a link whose target is
    such a name): the same, the name made on the host is removed again.
  * mtime is compared only where the fuzzer set it with utime and the host still shows it.
  * xattr values are at most 600 bytes: ext4 keeps all of a file's xattrs in one 4 KiB block and
    says ENOSPC past it, where a view (like XFS or tmpfs) takes 64 KiB values.
  * open(O_TMPFILE) (op tmpfile) is left out with the libfuse 2 adapter, which has no such call.
  * symlink targets never leave the compared tree (no absolute or upward targets): a create or
    mkdir through one would change the same outside path from both sides.
Also runs as another user (setpriv --reuid=65534 on a tree made world-writable, the view mounted
with --allow-other): the walkers then record what they may not read as errors.
"""
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import random
import re
import stat
import subprocess
import sys
import tempfile

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
AT_SYMLINK_FOLLOW = 0x400
RENAME_NOREPLACE = 1
LIBFUSE2 = os.environ.get('COWFS_FUSE_API') == 'libfuse2'  # the mount's adapter (MountCommand)
RENAME_EXCHANGE = 2
# FUSE has open(O_TMPFILE) from Linux 6.1 (protocol 7.37); before, a view says EOPNOTSUPP
_KERNEL = re.match(r'(\d+)\.(\d+)', os.uname().release)
TMPFILE_KERNEL = (int(_KERNEL.group(1)), int(_KERNEL.group(2))) >= (6, 1) if _KERNEL else None


def renameat2(a, b, flags):
    r = libc.renameat2(AT_FDCWD, ctypes.c_char_p(a), AT_FDCWD, ctypes.c_char_p(b), ctypes.c_uint(flags))
    if r != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return 0


def ename(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def is_utf8(b):
    try:
        b.decode('utf-8')
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------- tree snapshot / compare

def xattrs(p, follow):
    try:
        names = sorted(n for n in os.listxattr(p, follow_symlinks=follow) if n.startswith('user.'))
    except OSError as e:
        return ename(e)
    out = {}
    for n in names:
        try:
            out[n] = os.getxattr(p, n, follow_symlinks=follow).hex()
        except OSError as e:
            out[n] = ename(e)
    return out


ONE_LINK_DIRS = False


def one_link_dirs(near):
    """True if the filesystem holding near (the host's side) counts every directory as one link
    (btrfs); directories' link counts are then not compared."""
    d = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(near)))
    try:
        os.mkdir(os.path.join(d, 'sub'))
        return os.lstat(d).st_nlink == 1
    finally:
        os.rmdir(os.path.join(d, 'sub'))
        os.rmdir(d)


def describe(root, mtimes=None):
    """relpath(bytes) -> dict of what must match."""
    res = {}
    root = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            try:
                st = os.lstat(p)
            except OSError as e:  # a directory this user may list but not search
                res[rel] = {'error': ename(e)}
                continue
            d = {'type': stat.S_IFMT(st.st_mode), 'mode': oct(stat.S_IMODE(st.st_mode)),
                 'uid': st.st_uid, 'gid': st.st_gid, 'nlink': st.st_nlink}
            if ONE_LINK_DIRS and stat.S_ISDIR(st.st_mode):
                d['nlink'] = None  # the host counts one link per directory (btrfs); a view counts them as ext4 does
            if stat.S_ISREG(st.st_mode):
                d['size'] = st.st_size
                try:  # as another user: a file may not be readable
                    with open(p, 'rb') as f:
                        d['sha'] = hashlib.sha256(f.read()).hexdigest()[:16]
                except OSError as e:
                    d['sha'] = ename(e)
            elif stat.S_ISLNK(st.st_mode):
                d['target'] = os.readlink(p).hex()
                d['size'] = st.st_size
            if not stat.S_ISLNK(st.st_mode):
                d['xattr'] = xattrs(p, True)
            if mtimes is not None and rel.hex() in mtimes:
                d['mtime'] = st.st_mtime_ns
                d['mtime_expected'] = mtimes[rel.hex()]
            res[rel] = d
    return res


def diff_trees(a, b, mtimes=None):
    da, db = describe(a, mtimes), describe(b, mtimes)
    out = []
    for k in sorted(set(da) | set(db)):
        if k not in da:
            out.append('only in %s: %r %r' % (b, k, db[k]))
        elif k not in db:
            out.append('only in %s: %r %r' % (a, k, da[k]))
        else:
            if da[k].get('mtime') != da[k].get('mtime_expected'):
                # the host changed it since (an op the fuzzer does not track as changing it)
                for x in (da[k], db[k]):
                    x.pop('mtime', None)
                    x.pop('mtime_expected', None)
        if k in da and k in db and da[k] != db[k]:
            out.append('differs %r:\n   %s\n   %s' % (k, da[k], db[k]))
    return out


def match_history(history, view, back=6):
    """Which of the last states in history (NSFUZZ_HISTORY: the host's tree after each op, and
    after the host's half of each op, 'pending') view equals: (states from the end, op) or None,
    and the differences from the last state. The file that an op in progress at the kill creates
    in several calls (open, write, close: 'partial' in the last line) may be absent, or there with
    any size and bytes, as a file still open at a kill may (docs/DURABILITY.md)."""
    entries = []
    with open(history) as f:
        for line in f:
            if line.endswith('\n'):  # a line cut by the kill of the fuzzer is not a state
                entries.append(json.loads(line))
    loose = bytes.fromhex(entries[-1]['partial']) if entries and 'partial' in entries[-1] else None
    last = None
    for k, e in enumerate(reversed(entries[-(back + 1):])):
        want = {bytes.fromhex(rel): d for rel, d in e['tree'].items()}
        got = describe(view, e['mt'])
        out = []
        for rel in sorted(set(want) | set(got)):
            a, b = dict(want.get(rel, {})), dict(got.get(rel, {}))
            if a.get('mtime') != a.get('mtime_expected'):
                for x in (a, b):
                    x.pop('mtime', None)
                    x.pop('mtime_expected', None)
            if rel == loose and (rel not in got or a.get('type', b.get('type')) == b.get('type') == stat.S_IFREG):
                for x in (a, b):
                    x.pop('size', None)
                    x.pop('sha', None)
                    x.pop('mtime', None)
                    x.pop('mtime_expected', None)
                if rel not in got or rel not in want:
                    continue
            if rel not in got or rel not in want or a != b:
                out.append('%r: recorded %s, view %s' % (rel, want.get(rel), got.get(rel)))
        if not out:
            return (k, e['op']), None
        if last is None:
            last = out
    return None, last


# ---------------------------------------------------------------- the fuzzer

NAMES = [b'a', b'b', b'c', b'd', b'e', b'f', b'g', b'h']
LONG_OK = b'L' * 255
LONG_BAD = b'M' * 256
NON_UTF8 = [b'n\xff', b'\xc3\x28x', b'z\xed\xa0\x80']


class Mismatch(Exception):
    pass


class Fuzz:
    def __init__(self, host, view, seed, snapdir):
        self.H = os.fsencode(host)
        self.V = os.fsencode(view)
        self.seed = seed
        self.rnd = random.Random(seed)
        self.log = []
        self.snapdir = snapdir
        self.fds = []          # (hostfd, viewfd, relpath at open)
        self.mtimes = {}       # host ino -> mtime_ns set by utime, until something changes it
        self.nsnap = 0
        self.nops = 0
        self.history = None    # NSFUZZ_HISTORY's file
        self.partial = None    # the file op_create makes in several calls, for record()

    # -- helpers
    def h(self, rel):
        return os.path.join(self.H, rel) if rel else self.H

    def v(self, rel):
        return os.path.join(self.V, rel) if rel else self.V

    def entries(self):
        out = []
        for dirpath, dirnames, filenames in os.walk(self.H):
            for n in dirnames + filenames:
                out.append(os.path.relpath(os.path.join(dirpath, n), self.H))
        out.sort()
        return out

    def dirs(self):
        out = [b'']
        for dirpath, dirnames, _ in os.walk(self.H):
            for n in dirnames:
                out.append(os.path.relpath(os.path.join(dirpath, n), self.H))
        out.sort()
        return out

    def existing(self):
        e = self.entries()
        return self.rnd.choice(e) if e else b'a'

    def fresh_name(self):
        r = self.rnd.random()
        if r < 0.04:
            return LONG_OK
        if r < 0.06:
            return LONG_BAD
        if r < 0.09:
            return self.rnd.choice(NON_UTF8)
        return self.rnd.choice(NAMES)

    def anypath(self):
        """An existing path most of the time, else a (maybe existing) name in an existing dir."""
        if self.rnd.random() < 0.55:
            return self.existing()
        d = self.rnd.choice(self.dirs())
        return os.path.join(d, self.fresh_name()) if d else self.fresh_name()

    def hino(self, rel):
        try:
            return os.lstat(self.h(rel)).st_ino
        except OSError:
            return None

    def changed(self, *rels):
        """Nothing: an mtime set by utime stays expected until the host shows another (the host is
        the oracle: a compare skips a time the host changed, and flags one only the view changed),
        so renames, links, chmod, chown and xattrs are checked to keep it."""
        return

    def changed_old(self, *rels):
        for rel in rels:
            for r in (rel, os.path.dirname(rel)):
                i = self.hino(r)
                if i is not None:
                    self.mtimes.pop(i, None)

    def mtime_map(self):
        out = {}
        for rel in self.entries():
            i = self.hino(rel)
            if i in self.mtimes:
                out[rel.hex()] = self.mtimes[i]
        return out

    def record(self, pending=False):
        """One line of NSFUZZ_HISTORY: the host's tree now. pending: the host has done an op the
        view has not yet (the view may be killed during it); partial: a file that op creates and
        writes in several calls (open, write, close), which a kill may leave between them."""
        mt = self.mtime_map()
        tree = {rel.hex(): d for rel, d in describe(self.H, mt).items()}
        e = {'op': self.nops, 'mt': mt, 'tree': tree}
        if pending:
            e['pending'] = True
            if self.partial is not None:
                e['partial'] = self.partial.hex()
        self.history.write(json.dumps(e) + '\n')
        self.history.flush()

    def both(self, desc, fn):
        """Runs fn(root) on the host then the view; returns (hostresult, viewresult)."""
        self.nops += 1
        self.log.append('%d: %s' % (self.nops, desc))
        out = []
        for root in (self.H, self.V):
            if root == self.V and self.history:
                self.record(pending=True)
            try:
                out.append(('ok', fn(root)))
            except OSError as e:
                out.append(('err', ename(e)))
        if out == [('err', 'EEXIST'), ('err', 'ENOTEMPTY')] and desc.startswith(('rename', 'rmdir')):
            out[0] = out[1]  # a non-empty directory: POSIX allows either; XFS says EEXIST, ext4 and views ENOTEMPTY
        self.log[-1] += '  -> %s' % (out[0][1] if out[0][0] == 'err' else 'ok')
        return out[0], out[1]

    def fail(self, msg):
        raise Mismatch(msg)

    def expect_same(self, desc, fn):
        h, v = self.both(desc, fn)
        if h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))
        return h

    def undo_non_utf8(self, desc, h, v, undo):
        """A name that is not UTF-8: the view must refuse it with EINVAL (README); the host's
        success is undone so that the trees stay the same."""
        if v != ('err', 'EINVAL') and v != h:
            self.fail('%s (non-UTF-8 name): host %r, view %r (expected EINVAL or the host result)' % (desc, h, v))
        if h[0] == 'ok' and v[0] != 'ok':
            undo()
            self.log.append('   (undone on the host: non-UTF-8 name)')

    # -- comparisons
    def check_parents(self, where):
        """'..' of every directory is its parent (the kernel resolves '..' by its dentry tree,
        which the view's answers build)."""
        for root in (self.H, self.V):
            for dirpath, dirnames, _ in os.walk(root):
                pst = os.lstat(dirpath)
                for n in dirnames:
                    if os.path.islink(os.path.join(dirpath, n)):
                        continue
                    try:
                        up = os.lstat(os.path.join(dirpath, n, b'..'))
                    except OSError:
                        continue  # not searchable by this user
                    if (up.st_ino, up.st_dev) != (pst.st_ino, pst.st_dev):
                        self.fail('%s: %r/.. is not %r (%s)' % (where, os.path.join(dirpath, n), dirpath, where))

    def compare_trees(self, where):
        self.check_parents(where)
        d = diff_trees(self.H, self.V, self.mtime_map())
        if d:
            self.fail('trees differ (%s):\n  ' % where + '\n  '.join(d[:40]))

    # -- operations
    def op_mkdir(self):
        p = self.anypath()
        mode = self.rnd.choice([0o755, 0o700, 0o777, 0o1777, 0o2755])
        desc = 'mkdir %r %o' % (p, mode)
        self.changed(p)
        h, v = self.both(desc, lambda r: os.mkdir(os.path.join(r, p), mode))
        if not is_utf8(os.path.basename(p)):
            self.undo_non_utf8(desc, h, v, lambda: os.rmdir(self.h(p)))
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def op_rmdir(self):
        p = self.anypath()
        self.changed(p)
        self.expect_same('rmdir %r' % p, lambda r: os.rmdir(os.path.join(r, p)))

    def op_unlink(self):
        p = self.anypath()
        self.changed(p)
        self.expect_same('unlink %r' % p, lambda r: os.unlink(os.path.join(r, p)))

    def op_create(self):
        p = self.anypath()
        mode = self.rnd.choice([0o644, 0o600, 0o755, 0o4755, 0o2755, 0o444])
        # O_NONBLOCK: an existing fifo gives ENXIO instead of waiting for a reader
        flags = os.O_CREAT | os.O_WRONLY | os.O_NONBLOCK | self.rnd.choice([0, os.O_EXCL, os.O_TRUNC])
        data = os.urandom(self.rnd.choice([0, 1, 100, 5000, 70000]))
        desc = 'create %r flags=%o mode=%o len=%d' % (p, flags, mode, len(data))
        self.changed(p)

        def f(r):
            fd = os.open(os.path.join(r, p), flags, mode)
            try:
                return os.write(fd, data)
            finally:
                os.close(fd)
        # O_CREAT follows a symlink at the end: the name made is the link's target's
        final = os.path.realpath(self.h(p))
        self.partial = os.path.relpath(final, os.path.realpath(self.H))
        try:
            h, v = self.both(desc, f)
        finally:
            self.partial = None
        if not is_utf8(os.path.basename(p)) or not is_utf8(os.path.basename(final)):
            self.undo_non_utf8(desc, h, v, lambda: os.unlink(final))
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def op_tmpfile(self):
        """open(O_TMPFILE) in a directory, written, then named by linkat (AT_SYMLINK_FOLLOW of
        /proc/self/fd/N, as open(2) shows) or closed with no name. libfuse 2 has no such call
        (EOPNOTSUPP, README "Known limits"): left out there."""
        if LIBFUSE2 or TMPFILE_KERNEL is False:
            return
        d = self.rnd.choice(self.dirs())
        name = os.path.join(d, self.fresh_name()) if d else self.fresh_name()
        data = os.urandom(self.rnd.choice([0, 1, 5000, 70000]))
        named = self.rnd.random() < 0.75
        desc = 'tmpfile in %r len=%d %s' % (d, len(data), ('linked as %r' % name) if named else 'not linked')
        self.changed(name)

        def f(r):
            fd = os.open(os.path.join(r, d) if d else r, os.O_TMPFILE | os.O_RDWR, 0o640)
            try:
                n = os.write(fd, data)
                if named and libc.linkat(AT_FDCWD, ctypes.c_char_p(b'/proc/self/fd/%d' % fd), AT_FDCWD,
                                         ctypes.c_char_p(os.path.join(r, name)), AT_SYMLINK_FOLLOW) != 0:
                    e = ctypes.get_errno()
                    raise OSError(e, os.strerror(e))
                return n
            finally:
                os.close(fd)
        # a kill may come between the link and the close that writes the file back: it may be short
        # (the name as the host's tree shows it: through a symlinked directory, its target's, as op_create)
        final = os.path.realpath(self.h(name))
        self.partial = os.path.relpath(final, os.path.realpath(self.H)) if named else None
        try:
            h, v = self.both(desc, f)
        finally:
            self.partial = None
        if named and not is_utf8(os.path.basename(name)):
            self.undo_non_utf8(desc, h, v, lambda: os.unlink(self.h(name)))
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def op_mkfifo(self):
        p = self.anypath()
        desc = 'mkfifo %r' % p
        self.changed(p)
        h, v = self.both(desc, lambda r: os.mkfifo(os.path.join(r, p), 0o640))
        if not is_utf8(os.path.basename(p)):
            self.undo_non_utf8(desc, h, v, lambda: os.unlink(self.h(p)))
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def op_link(self):
        a, b = self.existing(), self.anypath()
        follow = self.rnd.random() < 0.2
        desc = 'link %r %r follow=%s' % (a, b, follow)
        self.changed(a, b)
        h, v = self.both(desc, lambda r: os.link(os.path.join(r, a), os.path.join(r, b), follow_symlinks=follow))
        if not is_utf8(os.path.basename(b)):
            self.undo_non_utf8(desc, h, v, lambda: os.unlink(self.h(b)))
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def op_symlink(self):
        # no absolute or upward targets: ops that follow them must stay inside the compared tree
        target = self.rnd.choice([b'a', b'nonexistent', b'x' * 300, b'\xff\xfe', self.existing(), b'd/e', b'd/./b'])
        p = self.anypath()
        desc = 'symlink %r -> %r' % (p, target)
        self.changed(p)
        h, v = self.both(desc, lambda r: os.symlink(target, os.path.join(r, p)))
        if not is_utf8(os.path.basename(p)):
            self.undo_non_utf8(desc, h, v, lambda: os.unlink(self.h(p)))
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def rename_pair(self):
        r = self.rnd.random()
        a = self.existing()
        if r < 0.1:
            return a, a                                           # over itself
        if r < 0.2:
            return a, os.path.join(a, self.rnd.choice(NAMES))     # into its own subdir
        if r < 0.3:
            ds = [d for d in self.dirs() if d]
            if ds:
                x = self.rnd.choice(ds)
                return os.path.dirname(x) or self.existing(), x   # parent over child
        return a, self.anypath()

    def op_rename(self):
        a, b = self.rename_pair()
        flags = self.rnd.choice([None, None, None, RENAME_NOREPLACE, RENAME_EXCHANGE])
        if flags == RENAME_EXCHANGE and any(os.path.realpath(os.path.dirname(self.h(x))) != os.path.abspath(os.path.dirname(self.h(x)))
                                            for x in (a, b)):
            flags = RENAME_NOREPLACE  # the host's exchange could not be undone by the same paths
        self.changed(a, b)
        if flags == RENAME_NOREPLACE and LIBFUSE2:
            # libfuse 2.9 speaks protocol 7.19, before RENAME2: the kernel answers EINVAL (README);
            # run on the view only (an undo on the host could not always find the paths again)
            desc = 'renameat2 %r %r flags=%d (view only: libfuse2)' % (a, b, flags)
            self.nops += 1
            self.log.append('%d: %s' % (self.nops, desc))
            try:
                renameat2(os.path.join(self.V, a), os.path.join(self.V, b), flags)
                v = ('ok', 0)
            except OSError as e:
                v = ('err', ename(e))
            if v[0] != 'err':  # EINVAL, or what the kernel checks first (EEXIST, ENOENT, ...)
                self.fail('%s: view %r (expected an error through libfuse2)' % (desc, v))
            return
        # where b lands on the host, resolved now: a rename of a symlink into the directory it
        # names (dsym -> dsym/x) leaves no path through the link for the undo below
        hb = os.path.join(os.path.realpath(os.path.dirname(self.h(b))), os.path.basename(b))
        if flags is None:
            desc = 'rename %r %r' % (a, b)
            h, v = self.both(desc, lambda r: os.rename(os.path.join(r, a), os.path.join(r, b)))
        else:
            desc = 'renameat2 %r %r flags=%d' % (a, b, flags)
            h, v = self.both(desc, lambda r: renameat2(os.path.join(r, a), os.path.join(r, b), flags))
        self.changed(a, b)
        if not is_utf8(os.path.basename(b)):
            self.undo_non_utf8(desc, h, v, lambda: os.rename(hb, self.h(a)))
        elif flags == RENAME_EXCHANGE and h != v:
            # documented: RENAME_EXCHANGE gets EINVAL in a view (DESIGN-DECISIONS section 10)
            if v != ('err', 'EINVAL'):
                self.fail('%s: host %r, view %r (expected EINVAL)' % (desc, h, v))
            if h[0] == 'ok':
                renameat2(self.h(a), self.h(b), RENAME_EXCHANGE)
                self.log.append('   (undone on the host: RENAME_EXCHANGE)')
        elif h != v:
            self.fail('%s: host %r, view %r' % (desc, h, v))

    def op_chmod(self):
        p = self.existing()
        mode = self.rnd.choice([0o644, 0o600, 0o755, 0o4755, 0o6755, 0o2755, 0o2745, 0o1777, 0o000, 0o444])
        # chmod follows symlinks (Linux has no lchmod)
        self.expect_same('chmod %r %o' % (p, mode), lambda r: os.chmod(os.path.join(r, p), mode))

    def op_chown(self):
        p = self.existing()
        uid = self.rnd.choice([0, 1234, 65534, -1])
        gid = self.rnd.choice([0, 4321, 65534, -1])
        follow = self.rnd.random() < 0.5
        self.expect_same('chown %r %d %d follow=%s' % (p, uid, gid, follow),
                         lambda r: os.chown(os.path.join(r, p), uid, gid, follow_symlinks=follow))

    def op_utime(self):
        p = self.anypath()
        follow = self.rnd.random() < 0.5
        ns = (self.rnd.randrange(0, 2_000_000_000) * 1_000_000_000 + self.rnd.randrange(0, 1_000_000_000),
              self.rnd.randrange(0, 2_000_000_000) * 1_000_000_000 + self.rnd.randrange(0, 1_000_000_000))
        h, v = self.expect_same('utime %r %r follow=%s' % (p, ns, follow),
                                lambda r: os.utime(os.path.join(r, p), ns=ns, follow_symlinks=follow)), None
        if h[0] == 'ok':
            target = os.path.realpath(self.h(p)) if follow else self.h(p)
            try:
                self.mtimes[os.lstat(target).st_ino] = ns[1]
            except OSError:
                pass

    def op_stat(self):
        p = self.anypath()
        follow = self.rnd.random() < 0.5

        def f(r):
            st = os.stat(os.path.join(r, p), follow_symlinks=follow)
            isdir = stat.S_ISDIR(st.st_mode)
            return (stat.S_IFMT(st.st_mode), oct(st.st_mode), st.st_uid, st.st_gid,
                    None if ONE_LINK_DIRS and isdir else st.st_nlink, None if isdir else st.st_size)
        self.expect_same('stat %r follow=%s' % (p, follow), f)

    def op_readlink(self):
        p = self.anypath()
        self.expect_same('readlink %r' % p, lambda r: os.readlink(os.path.join(r, p)))

    def op_listdir(self):
        d = self.rnd.choice(self.dirs() + [self.existing()])

        def f(r):
            with os.scandir(os.path.join(r, d) if d else r) as it:  # names and d_type
                return sorted((e.name, e.is_dir(follow_symlinks=False), e.is_symlink(), e.is_file(follow_symlinks=False))
                              for e in it)
        self.expect_same('listdir %r' % d, f)

    def op_access(self):
        p = self.anypath()
        self.expect_same('exists %r' % p, lambda r: os.path.lexists(os.path.join(r, p)))

    def xname(self):
        return self.rnd.choice(['user.a', 'user.b', 'user.' + 'k' * 250, 'user.' + 'k' * 251, 'user.c'])

    def op_setxattr(self):
        p = self.anypath()
        n = self.xname()
        # at most 600 bytes: ext4 keeps all of a file's xattrs in one 4 KiB block (ENOSPC past it)
        val = os.urandom(self.rnd.choice([0, 1, 30, 600]))
        flags = self.rnd.choice([0, 0, os.XATTR_CREATE, os.XATTR_REPLACE])
        follow = self.rnd.random() < 0.7
        self.expect_same('setxattr %r %s len=%d flags=%d follow=%s' % (p, n[:12], len(val), flags, follow),
                         lambda r: os.setxattr(os.path.join(r, p), n, val, flags, follow_symlinks=follow))

    def op_getxattr(self):
        p = self.anypath()
        n = self.xname()
        follow = self.rnd.random() < 0.7
        self.expect_same('getxattr %r %s follow=%s' % (p, n[:12], follow),
                         lambda r: os.getxattr(os.path.join(r, p), n, follow_symlinks=follow))

    def op_removexattr(self):
        p = self.anypath()
        n = self.xname()
        follow = self.rnd.random() < 0.7
        self.expect_same('removexattr %r %s follow=%s' % (p, n[:12], follow),
                         lambda r: os.removexattr(os.path.join(r, p), n, follow_symlinks=follow))

    def op_listxattr(self):
        p = self.anypath()
        follow = self.rnd.random() < 0.7
        self.expect_same('listxattr %r follow=%s' % (p, follow),
                         lambda r: sorted(x for x in os.listxattr(os.path.join(r, p), follow_symlinks=follow)
                                          if x.startswith('user.')))

    def op_truncate(self):
        p = self.anypath()
        size = self.rnd.choice([0, 1, 4095, 4097, 65536, 100000, 200001])
        self.changed(p)
        self.expect_same('truncate %r %d' % (p, size), lambda r: os.truncate(os.path.join(r, p), size))
        self.changed(p)
        # truncate follows symlinks: forget the target's time too
        try:
            self.mtimes.pop(os.stat(self.h(p)).st_ino, None)
        except OSError:
            pass

    # -- open descriptors kept across renames and unlinks
    def op_open(self):
        if len(self.fds) >= 4:
            return self.op_close()
        p = self.existing()
        if not os.path.isfile(self.h(p)) or os.path.islink(self.h(p)):
            return
        flags = os.O_RDWR | self.rnd.choice([0, os.O_APPEND])
        h, v = self.both('open %r flags=%o -> fd#%d' % (p, flags, len(self.fds)), lambda r: os.open(os.path.join(r, p), flags))
        if h[0] == 'ok' and v[0] == 'ok':
            self.fds.append((h[1], v[1], p))
        else:
            for x in (h, v):
                if x[0] == 'ok':
                    os.close(x[1])
            if h[0] != v[0] or h != v and h[0] == 'err':
                self.fail('open %r: host %r, view %r' % (p, h, v))

    def pick_fd(self):
        return self.rnd.randrange(len(self.fds)) if self.fds else None

    def op_close(self):
        i = self.pick_fd()
        if i is None:
            return
        hf, vf, p = self.fds.pop(i)
        self.log.append('%d: close fd#%d (%r)' % (self.nops, i, p))
        os.close(hf)
        os.close(vf)

    def op_fdio(self):
        i = self.pick_fd()
        if i is None:
            return self.op_open()
        hf, vf, p = self.fds[i]
        what = self.rnd.choice(['write', 'read', 'fstat', 'ftruncate', 'fsync'])
        off = self.rnd.choice([0, 10, 4096, 70000])
        data = os.urandom(self.rnd.choice([1, 100, 9000]))
        size = self.rnd.choice([0, 50, 5000])
        desc = 'fd#%d(%r) %s off=%d' % (i, p, what, off)
        self.nops += 1
        self.log.append('%d: %s' % (self.nops, desc))
        res = []
        for fd in (hf, vf):
            try:
                if what == 'write':
                    res.append(os.pwrite(fd, data, off))
                elif what == 'read':
                    res.append(hashlib.sha256(os.pread(fd, 100000, off)).hexdigest()[:16])
                elif what == 'fstat':
                    st = os.fstat(fd)
                    res.append((oct(st.st_mode), st.st_nlink, st.st_size, st.st_uid))
                elif what == 'ftruncate':
                    res.append(os.ftruncate(fd, size))
                else:
                    res.append(os.fsync(fd))
            except OSError as e:
                res.append(ename(e))
        if what == 'read' and LIBFUSE2 and res[0] != res[1]:
            # README "Known limits": through libfuse2 a descriptor open on one hardlink name may
            # read cached pages after a write through another; the view's bytes are read past them
            fl = fcntl.fcntl(vf, fcntl.F_GETFL)
            fcntl.fcntl(vf, fcntl.F_SETFL, fl | os.O_DIRECT)
            try:
                res[1] = hashlib.sha256(os.pread(vf, 100000, off)).hexdigest()[:16]
            finally:
                fcntl.fcntl(vf, fcntl.F_SETFL, fl)
            self.log.append('   (read again past the page cache: libfuse2, hardlink names)')
        if what == 'fstat' and LIBFUSE2 and res[1] == 'ENOENT' and isinstance(res[0], tuple) and res[0][1] == 0:
            # docs/UNLINKED-OPEN-FILES.md: through libfuse2, fstat of an unlinked open file whose
            # directory was removed since fails (libfuse itself needs a path for GETATTR)
            self.log.append('   (ENOENT tolerated: libfuse2, unlinked file in a removed directory)')
            return
        if res[0] != res[1]:
            self.fail('%s: host %r, view %r' % (desc, res[0], res[1]))
        if what in ('write', 'ftruncate'):
            try:
                self.mtimes.pop(os.fstat(hf).st_ino, None)
            except OSError:
                pass

    def op_readdir_during_changes(self):
        """Lists a directory while names are created and removed in it: on each side every name
        that was there before and stays must be listed exactly once (POSIX leaves the rest open)."""
        d = self.rnd.choice(self.dirs())
        count = self.rnd.choice([3, 30, 120])
        if not os.access(self.h(d), os.W_OK | os.X_OK | os.R_OK):
            return  # as another user
        self.nops += 1
        self.log.append('%d: readdir-during-changes %r (%d names)' % (self.nops, d, count))
        self.changed(os.path.join(d, b'x'))
        for root in (self.H, self.V):
            base = os.path.join(root, d) if d else root
            names = [b'rd%d' % k for k in range(count)]
            for n in names:
                with open(os.path.join(base, n), 'wb'):
                    pass
            before = set(os.listdir(base))
            seen = []
            removed = set()
            with os.scandir(base) as it:
                for k, e in enumerate(it):
                    seen.append(os.fsencode(e.name))
                    if k % 3 == 0 and names:
                        n = names.pop()
                        os.unlink(os.path.join(base, n))
                        removed.add(n)
                        with open(os.path.join(base, n + b'new'), 'wb'):
                            pass
                        os.unlink(os.path.join(base, n + b'new'))
            dup = sorted(n for n in set(seen) if seen.count(n) > 1)
            missing = sorted((before - removed) - set(seen))
            if dup or missing:
                self.fail('readdir of %r in %s: duplicates %r, missing %r' % (d, root, dup, missing))
            for n in names:
                os.unlink(os.path.join(base, n))
        self.expect_same('listdir after readdir %r' % d, lambda r: sorted(os.listdir(os.path.join(r, d) if d else r)))

    def snapshot(self):
        name = 's%d' % self.nsnap
        self.nsnap += 1
        dest = os.path.join(self.snapdir, name)
        if os.environ.get('NSFUZZ_CLOSE_AT_SNAP'):  # a crash driver kills the mount at the snapshot
            for hf, vf, p in self.fds:
                os.close(hf)
                os.close(vf)
            self.fds = []
            with open(dest + '.log', 'w') as f:
                f.write('\n'.join(self.log) + '\n')
        subprocess.run(['cp', '-a', '--', self.H, dest], check=True)
        with open(dest + '.mtimes.json', 'w') as f:
            json.dump(self.mtime_map(), f)
        self.log.append('%d: snapshot %s' % (self.nops, name))
        print('@@SNAP ' + name, flush=True)
        reply = sys.stdin.readline().strip()
        if reply != 'ok':
            self.fail('snapshot %s: %s' % (name, reply))

    OPS = [('mkdir', 8), ('rmdir', 6), ('unlink', 6), ('create', 10), ('mkfifo', 1), ('link', 6),
           ('symlink', 5), ('rename', 16), ('chmod', 4), ('chown', 3), ('utime', 4), ('stat', 5),
           ('readlink', 2), ('listdir', 3), ('access', 2), ('setxattr', 5), ('getxattr', 3),
           ('removexattr', 3), ('listxattr', 2), ('truncate', 4), ('open', 4), ('close', 2),
           ('fdio', 8), ('readdir_during_changes', 1), ('tmpfile', 3)]

    def run(self, nops, compare_every=25, snap_every=0):
        skip = set(filter(None, os.environ.get('NSFUZZ_SKIP', '').split(',')))
        names = [n for n, w in self.OPS for _ in range(w) if n not in skip]
        if os.environ.get('NSFUZZ_HISTORY'):
            self.history = open(os.environ['NSFUZZ_HISTORY'], 'w')
            self.record()
        k = 0
        while self.nops < nops:
            k += 1
            getattr(self, 'op_' + self.rnd.choice(names))()
            if self.history:  # the host's tree after each op, for a driver that kills the mount meanwhile
                self.record()
            if os.environ.get('NSFUZZ_PARENTS'):
                self.check_parents('after op %d' % self.nops)
            if k % compare_every == 0:
                self.compare_trees('after op %d' % self.nops)
            if snap_every and k % snap_every == 0:
                self.snapshot()
        for hf, vf, p in self.fds:
            os.close(hf)
            os.close(vf)
        self.fds = []
        self.compare_trees('at the end')
        with open(os.path.join(self.snapdir, 'final.mtimes.json'), 'w') as f:
            json.dump(self.mtime_map(), f)


def main():
    global ONE_LINK_DIRS
    ONE_LINK_DIRS = one_link_dirs(sys.argv[2])  # the history file or the host's tree
    if sys.argv[1] == 'matches':  # matches HISTORY VIEW: the view is one of the last recorded states
        found, diff = match_history(sys.argv[2], sys.argv[3])
        if found is None:
            print('the view matches none of the last recorded states; against the last:')
            print('\n'.join(diff[:40]))
            sys.exit(1)
        print('the view is the state %d from the end (after op %d)' % found)
        return
    if sys.argv[1] == 'compare':
        mt = None
        if len(sys.argv) > 4:
            with open(sys.argv[4]) as f:
                mt = json.load(f)
        d = diff_trees(sys.argv[2], sys.argv[3], mt)
        if d:
            print('\n'.join(d[:60]))
            sys.exit(1)
        print('same')
        return
    _, _, host, view, seed, nops, snapdir = sys.argv[:7]
    snap_every = int(sys.argv[7]) if len(sys.argv) > 7 else 0
    fz = Fuzz(host, view, int(seed), snapdir)
    try:
        fz.run(int(nops), snap_every=snap_every)
    except Mismatch as m:
        print('MISMATCH seed=%s after %d ops: %s' % (seed, fz.nops, m))
        print('op log:')
        print('\n'.join(fz.log))
        print('@@FAIL', flush=True)
        sys.exit(1)
    print('seed %s: %d ops, %d snapshots, same' % (seed, fz.nops, fz.nsnap))
    print('@@DONE', flush=True)


if __name__ == '__main__':
    main()
