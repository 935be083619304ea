#!/usr/bin/env python3
"""File handles (name_to_handle_at, open_by_handle_at) in ROOT after the kernel forgot the files
(drop_caches), as xfstests' generic/426, 467 and 477 use them. Prints one line per step, the same
on ext4 and in a cowfs view (FileHandlesIT compares). Needs root (CAP_DAC_READ_SEARCH, drop_caches).

usage: file_handles.py ROOT make HANDLES   make a tree, print what its handles open, save them
       file_handles.py ROOT open HANDLES   open the saved handles (after a remount)
"""
import ctypes
import errno
import os
import sys

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD = -100
MAX_HANDLE_SZ = 128


def handle(path):
    buf = ctypes.create_string_buffer(8 + MAX_HANDLE_SZ)
    ctypes.c_uint.from_buffer(buf, 0).value = MAX_HANDLE_SZ
    mount_id = ctypes.c_int()
    if libc.name_to_handle_at(AT_FDCWD, path.encode(), buf, ctypes.byref(mount_id), 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    n = ctypes.c_uint.from_buffer(buf, 0).value
    return buf.raw[:8 + n]


def opened(root, h, flags=os.O_RDONLY):
    mfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = ctypes.create_string_buffer(h, len(h))
        fd = libc.open_by_handle_at(mfd, buf, flags)
        if fd < 0:
            return errno.errorcode[ctypes.get_errno()]
        try:
            if flags & os.O_DIRECTORY:
                return "dir " + " ".join(sorted(os.listdir(fd)))
            return "file " + os.read(fd, 100).decode()
        finally:
            os.close(fd)
    finally:
        os.close(mfd)


def drop_caches():
    os.sync()
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3")


NAMES = ["d/f", "d/sub", "d/sub/deep", "gone", "moved", "linked"]


def make(root, saved):
    os.chdir(root)
    os.makedirs("d/sub")
    for p, s in [("d/f", "eff"), ("d/sub/deep", "deep"), ("gone", "soon gone"), ("moved", "moved"), ("linked", "two names")]:
        with open(p, "w") as f:
            f.write(s)
    os.link("linked", "d/other-name")
    hs = {p: handle(p) for p in NAMES}
    os.unlink("gone")
    os.rename("moved", "d/sub/moved-here")
    os.unlink("linked")
    drop_caches()
    show(root, hs)
    with open(saved, "w") as f:
        for p in NAMES:
            f.write(p + " " + hs[p].hex() + "\n")


def show(root, hs):
    for p in NAMES:
        flags = os.O_RDONLY | (os.O_DIRECTORY if p == "d/sub" else 0)
        print(p, opened(root, hs[p], flags))


def reopen(root, saved):
    hs = {}
    with open(saved) as f:
        for line in f:
            p, h = line.split()
            hs[p] = bytes.fromhex(h)
    drop_caches()
    show(root, hs)


if __name__ == "__main__":
    root, mode, saved = sys.argv[1], sys.argv[2], sys.argv[3]
    (make if mode == "make" else reopen)(root, saved)
