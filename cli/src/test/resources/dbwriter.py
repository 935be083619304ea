#!/usr/bin/env python3
"""SQLite transactions until the filesystem under it fails (DatabaseIT).

  dbwriter.py DB MODE START     journal_mode MODE (wal or delete), synchronous=FULL; transaction i
                                (from START) inserts row i with 1-3,000 bytes derived from i and
                                rewrites a counter row; each is printed ("committed i") once commit
                                has returned, which with synchronous=FULL is after SQLite's fsyncs.
  dbwriter.py DB check          prints "integrity X", "rows N", "max M", "counter C", and "bad I"
                                for the first row whose bytes are not the ones written for it.
"""
import hashlib
import sqlite3
import sys


def payload(i):
    n = 1 + int(hashlib.sha256(b"len%d" % i).hexdigest(), 16) % 3000
    out = b""
    k = 0
    while len(out) < n:
        out += hashlib.sha256(b"%d:%d" % (i, k)).digest()
        k += 1
    return out[:n]


db_path, what = sys.argv[1], sys.argv[2]
if what == "check":
    db = sqlite3.connect(db_path)
    print("integrity %s" % db.execute("pragma integrity_check").fetchone()[0])
    rows = db.execute("select count(*), coalesce(max(id), -1) from t").fetchone()
    print("rows %d" % rows[0])
    print("max %d" % rows[1])
    print("counter %d" % db.execute("select v from c where k = 0").fetchone()[0])
    for i, v in db.execute("select id, v from t order by id"):
        if v != payload(i):
            print("bad %d" % i)
            break
    sys.exit(0)

start = int(sys.argv[3])
db = sqlite3.connect(db_path, isolation_level=None)
db.execute("pragma journal_mode=%s" % what)
db.execute("pragma synchronous=FULL")
db.execute("create table if not exists t(id integer primary key, v blob)")
db.execute("create table if not exists c(k integer primary key, v integer)")
db.execute("insert or ignore into c values (0, -1)")
i = start
while True:
    db.execute("begin")
    db.execute("insert into t values (?, ?)", (i, payload(i)))
    db.execute("update c set v = ? where k = 0", (i,))
    if i % 50 == 49:
        db.execute("delete from t where id = ?", (i - 40,))  # pages freed and reused, as a real database's
        db.execute("insert into t values (?, ?)", (i - 40, payload(i - 40)))
    db.execute("commit")
    print("committed %d" % i, flush=True)
    i += 1
