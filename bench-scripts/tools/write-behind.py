import os, sys, time, glob, ctypes
# Starts writeback (sync_file_range SYNC_FILE_RANGE_WRITE) of every pack under STORE every 50 ms while FLAG exists.
# Used by write-behind.sh.
libc = ctypes.CDLL('libc.so.6', use_errno=True)
libc.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint]
store = sys.argv[1]
fds = {}
while os.path.exists(sys.argv[2]):
    for p in glob.glob(store + "/packs/**/*", recursive=True):
        if os.path.isfile(p) and p not in fds:
            try: fds[p] = os.open(p, os.O_RDONLY)
            except OSError: pass
    for fd in fds.values():
        libc.sync_file_range(fd, 0, 0, 2)
    time.sleep(0.05)
