#!/usr/bin/env python3
"""Asynchronous O_DIRECT writes (io_submit) while other processes read the same file through the
page cache, as xfstests' generic/451 (aio-dio-cycle-write) does: after each write completes, a
buffered read must see what it wrote. Prints "clean N" after N writes in SECONDS, or "stale at
write N" and stops at the first stale read. x86-64 Linux (raw AIO syscalls through ctypes).

usage: aio_stale.py FILE SECONDS
"""
import ctypes
import mmap
import os
import struct
import sys
import time

SIZE = 655360  # 640 KiB, as generic/451
SYS_IO_SETUP, SYS_IO_DESTROY, SYS_IO_GETEVENTS, SYS_IO_SUBMIT = 206, 207, 208, 209
IOCB_CMD_PWRITE = 1

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def check(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, what + ": " + os.strerror(e))
    return r


def main(path, seconds):
    bufs = []
    for pattern in (0x55, 0xAA):
        m = mmap.mmap(-1, SIZE)  # page-aligned, as O_DIRECT needs
        m.write(bytes([pattern]) * SIZE)
        bufs.append(m)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_DIRECT, 0o600)
    os.write(fd, bufs[0])
    os.fsync(fd)
    os.close(fd)

    flag = path + ".reading"
    open(flag, "w").close()
    readers = []
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                while os.path.exists(flag):
                    with open(path, "rb", buffering=0) as f:
                        f.read(SIZE)
            finally:
                os._exit(0)
        readers.append(pid)

    ctx = ctypes.c_ulong(0)
    check(libc.syscall(SYS_IO_SETUP, 1, ctypes.byref(ctx)), "io_setup")
    iocb = ctypes.create_string_buffer(64)
    iocbp = (ctypes.c_void_p * 1)(ctypes.addressof(iocb))
    events = ctypes.create_string_buffer(32)
    n = 0
    end = time.monotonic() + seconds
    result = None
    try:
        while time.monotonic() < end:
            i = n % 2
            n += 1
            fd = os.open(path, os.O_RDWR | os.O_DIRECT)
            addr = ctypes.addressof(ctypes.c_char.from_buffer(bufs[1 - i]))
            # struct iocb: data, key, rw_flags, opcode, reqprio, fildes, buf, nbytes, offset, reserved2, flags, resfd
            struct.pack_into("<QIIHhIQQqQII", iocb, 0, n, 0, 0, IOCB_CMD_PWRITE, 0, fd, addr, SIZE, 0, 0, 0, 0)
            check(libc.syscall(SYS_IO_SUBMIT, ctx, 1, iocbp), "io_submit")
            check(libc.syscall(SYS_IO_GETEVENTS, ctx, 1, 1, events, None), "io_getevents")
            res = struct.unpack_from("<QQqq", events, 0)[2]
            if res != SIZE:
                raise OSError(-res if res < 0 else 0, "aio write returned %d" % res)
            os.close(fd)
            with open(path, "rb", buffering=0) as f:
                got = f.read(SIZE)
            if got != bytes([0xAA if i == 0 else 0x55]) * SIZE:
                result = "stale at write %d" % n
                break
    finally:
        libc.syscall(SYS_IO_DESTROY, ctx)
        os.unlink(flag)
        for pid in readers:
            os.waitpid(pid, 0)
    print(result or "clean %d" % n)


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
