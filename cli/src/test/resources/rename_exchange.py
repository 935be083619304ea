#!/usr/bin/env python3
"""renameat2(RENAME_EXCHANGE) in ROOT, as a program sees it. Prints one line per step, the same on
ext4 and in a cowfs view (RenameExchangeIT compares the two). Modes:
  do    make a tree, exchange names in it, print each result, then the tree
  tree  print the tree only (after a remount: what the view kept)
  ro    try an exchange in a read-only mount of a tree made by "do" (EROFS)
"""
import ctypes
import errno
import os
import sys
import time

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
RENAME_NOREPLACE, RENAME_EXCHANGE = 1, 2


def renameat2(a, b, flags):
    if libc.renameat2(AT_FDCWD, a.encode(), AT_FDCWD, b.encode(), flags) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def step(what, fn):
    try:
        r = fn()
        print(f"{what}: ok" + ("" if r is None else f" {r}"))
    except OSError as e:
        print(f"{what}: {errno.errorcode[e.errno]}")


def read(p):
    with open(p) as f:
        return f.read()


def write(p, s):
    with open(p, "w") as f:
        f.write(s)


def tree(root):
    for d, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        rel = os.path.relpath(d, root)
        print(f"tree {rel}/ nlink={os.lstat(d).st_nlink}")
        for n in sorted(files):
            p = os.path.join(d, n)
            st = os.lstat(p)
            if os.path.islink(p):
                print(f"tree {rel}/{n} -> {os.readlink(p)}")
            else:
                print(f"tree {rel}/{n} nlink={st.st_nlink} {read(p)!r}")


def ctime_moves(a, b, flags):
    """exchange a and b; True if both files' ctimes moved (the one now at b was at a)"""
    before = (os.lstat(a).st_ctime_ns, os.lstat(b).st_ctime_ns)
    time.sleep(0.05)
    renameat2(a, b, flags)
    return os.lstat(b).st_ctime_ns > before[0] and os.lstat(a).st_ctime_ns > before[1]


def do(root):
    os.chdir(root)
    os.makedirs("d")
    write("d/one", "1")
    write("d/two", "2")
    os.makedirs("p/a/sub1")
    os.makedirs("p/a/sub2")
    write("p/a/x", "in a")
    os.makedirs("q")
    write("q/b", "file b")
    os.makedirs("r/c")
    write("h1", "linked")
    os.link("h1", "h2")
    os.symlink("d/one", "s")

    step("files in one directory", lambda: renameat2("d/one", "d/two", RENAME_EXCHANGE))
    step("  d/one now", lambda: read("d/one"))
    step("  d/two now", lambda: read("d/two"))
    step("ctimes of both move", lambda: ctime_moves("d/one", "d/two", RENAME_EXCHANGE))
    step("a directory and a file across directories", lambda: renameat2("p/a", "q/b", RENAME_EXCHANGE))
    step("  p/a now", lambda: read("p/a"))
    step("  q/b/x now", lambda: read("q/b/x"))
    step("  nlink p, q", lambda: (os.lstat("p").st_nlink, os.lstat("q").st_nlink))
    step("two directories across directories", lambda: renameat2("q/b", "r/c", RENAME_EXCHANGE))
    step("  nlink q, r", lambda: (os.lstat("q").st_nlink, os.lstat("r").st_nlink))
    step("  r/c/sub1 is a directory", lambda: os.path.isdir("r/c/sub1"))
    fd = os.open("d/one", os.O_RDWR)
    step("a symlink and a file", lambda: renameat2("s", "d/one", RENAME_EXCHANGE))
    step("  s reads", lambda: read("s"))
    step("  d/one links to", lambda: os.readlink("d/one"))
    os.pwrite(fd, b"9", 0)
    os.close(fd)
    step("  an open descriptor follows its file", lambda: read("s"))
    step("two names of one file", lambda: renameat2("h1", "h2", RENAME_EXCHANGE))
    step("  nlink h1", lambda: os.lstat("h1").st_nlink)
    step("a name with itself", lambda: renameat2("d/two", "d/two", RENAME_EXCHANGE))
    step("the target missing", lambda: renameat2("d/two", "d/none", RENAME_EXCHANGE))
    step("the source missing", lambda: renameat2("d/none", "d/two", RENAME_EXCHANGE))
    step("with RENAME_NOREPLACE", lambda: renameat2("d/two", "s", RENAME_EXCHANGE | RENAME_NOREPLACE))
    step("a directory with one inside it", lambda: renameat2("r", "r/c/sub1", RENAME_EXCHANGE))
    step("a directory with its parent", lambda: renameat2("r/c", "r", RENAME_EXCHANGE))
    tree(".")


def ro(root):
    os.chdir(root)
    step("exchange in a read-only mount", lambda: renameat2("d/two", "h1", RENAME_EXCHANGE))
    step("  d/two still", lambda: read("d/two"))


if __name__ == "__main__":
    root, mode = sys.argv[1], sys.argv[2]
    {"do": do, "tree": lambda r: (os.chdir(r), tree(".")), "ro": ro}[mode](root)
