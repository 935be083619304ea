#!/usr/bin/env python3
"""A database's writes in one directory: what bench-scripts/20-database.sh times on each system.

  db-workload.py DIR fsync N      N rounds of a 4 KiB pwrite into a 64 KiB file, each followed by
                                  fsync; prints "us_per_fsync X"
  db-workload.py DIR sqlite MODE  SQLite (journal_mode MODE: wal or delete, synchronous FULL): 2,000
                                  inserts of 10-3,000 random bytes committed every 10, 500 one-row
                                  updates each its own transaction, a delete of a third, VACUUM;
                                  prints "seconds X", then checks the database ("integrity ok",
                                  "rows 1334") and exits 1 if it is not as written.
"""
import os
import random
import sqlite3
import sys
import time

d, kind = sys.argv[1], sys.argv[2]
if kind == "fsync":
    n = int(sys.argv[3])
    fd = os.open(os.path.join(d, "fsync.dat"), os.O_RDWR | os.O_CREAT, 0o644)
    os.pwrite(fd, b"\0" * 65536, 0)
    os.fsync(fd)
    buf = os.urandom(4096)
    t = time.perf_counter()
    for i in range(n):
        os.pwrite(fd, buf, (i % 16) * 4096)
        os.fsync(fd)
    print("us_per_fsync %.1f" % ((time.perf_counter() - t) / n * 1e6))
    os.close(fd)
elif kind == "sqlite":
    mode = sys.argv[3]
    path = os.path.join(d, "bench-%s.db" % mode)
    rnd = random.Random(12)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("pragma journal_mode=%s" % mode)
    db.execute("pragma synchronous=FULL")
    db.execute("create table t(id integer primary key, v blob)")
    t = time.perf_counter()
    db.execute("begin")
    for i in range(2000):
        db.execute("insert into t(v) values (?)", (rnd.randbytes(rnd.randint(10, 3000)),))
        if i % 10 == 9:
            db.execute("commit")
            db.execute("begin")
    db.execute("commit")
    for i in range(500):
        db.execute("update t set v = ? where id = ?", (rnd.randbytes(200), rnd.randint(1, 2000)))
    db.execute("delete from t where id % 3 = 0")
    db.execute("vacuum")
    print("seconds %.3f" % (time.perf_counter() - t))
    db.close()
    db = sqlite3.connect(path)
    ok = db.execute("pragma integrity_check").fetchone()[0]
    rows = db.execute("select count(*) from t").fetchone()[0]
    print("integrity %s" % ok)
    print("rows %d" % rows)
    sys.exit(0 if ok == "ok" and rows == 1334 else 1)
else:
    sys.exit("usage: db-workload.py DIR fsync N | DIR sqlite wal|delete")
