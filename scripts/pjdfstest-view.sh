#!/usr/bin/env bash
# pjdfstest (the POSIX errno and permission suite of FreeBSD, 8,800 cases: chmod, chown, link,
# mkdir, mkfifo, mknod, open, rename, rmdir, symlink, truncate, unlink, utimensat, ...) run as
# root inside a view mounted with --allow-other, then the store checked with fsck. Not part of the
# test suite: pjdfstest is not packaged by Debian, so it is built from its source here, and a run
# takes 7-10 minutes.
#
# Usage: bash scripts/pjdfstest-view.sh PJDFSTEST_SOURCE_DIR [kernel|libfuse2]
#   PJDFSTEST_SOURCE_DIR: a checkout of https://github.com/pjd/pjdfstest (its pjdfstest.c and
#   tests/); the binary is built there with gcc if absent (no autotools needed: the config.h
#   written below holds what Linux has). Needs root, gcc and prove (perl).
# Exit 0 only if prove passes every test and fsck is clean.
set -euo pipefail
src="${1:?usage: scripts/pjdfstest-view.sh PJDFSTEST_SOURCE_DIR [kernel|libfuse2]}"
[ -d "$src" ] && src="$(cd "$src" && pwd)" # before the cd below: a path relative to the caller's directory
api="${2:-kernel}"
cd "$(dirname "$0")/.."
cowfs="$PWD/cowfs"
[ "$(id -u)" = 0 ] || { echo "pjdfstest runs as root (it switches to other users)" >&2; exit 2; }
[ -f "$src/pjdfstest.c" ] && [ -d "$src/tests" ] || { echo "$src: no pjdfstest.c and tests/ there" >&2; exit 2; }
if [ ! -x "$src/pjdfstest" ]; then
  [ -f "$src/config.h" ] || printf '#define HAVE_%s 1\n' FCHMODAT FCHOWNAT FSTATAT LINKAT MKDIRAT \
    MKFIFOAT MKNODAT OPENAT POSIX_FALLOCATE RENAMEAT SYMLINKAT UNLINKAT UTIMENSAT \
    STRUCT_STAT_ST_ATIM STRUCT_STAT_ST_CTIM STRUCT_STAT_ST_MTIM SYS_SYSMACROS_H >"$src/config.h"
  gcc -D_GNU_SOURCE -I"$src" -o "$src/pjdfstest" "$src/pjdfstest.c"
fi
work="$(mktemp -d /tmp/cowfs-pjdfstest.XXXXXX)"
chmod 755 "$work"
export COWFS_STORE="$work/store"
mp="$work/view"
cleanup() {
  (($?)) && keep=1 # a failure: keep the store for a look
  cd /
  mountpoint -q "$mp" 2>/dev/null && { "$cowfs" umount "$mp" >/dev/null || fusermount3 -uz "$mp" || true; }
  if [ -n "${keep:-}" ]; then
    echo "the store and the suite are kept in $work" >&2
  elif ! mountpoint -q "$mp" 2>/dev/null; then
    rm -rf "$work"
  fi
}
trap cleanup EXIT
mkdir -p "$work/src" "$mp"
echo seed >"$work/src/seed"
"$cowfs" init >/dev/null
"$cowfs" import "$work/src" --name base >/dev/null
"$cowfs" fork base --name v >/dev/null
"$cowfs" mount v "$mp" --allow-other --fuse-api="$api" >/dev/null
mkdir "$mp/w" && chmod 777 "$mp/w"
rc=0
# the suite runs from a copy whose conf says ext4: cowfs updates a file's ctime on rename as ext4
# does, and pjdfstest checks that only on the filesystems it knows to (df says fuse.cowfs here)
mkdir "$work/suite"
cp -r "$src/tests" "$work/suite/tests"
cp "$src/pjdfstest" "$work/suite/"
echo 'fs=EXT4' >>"$work/suite/tests/conf"
(cd "$mp/w" && prove -r "$work/suite/tests") || rc=$?
"$cowfs" umount "$mp" >/dev/null || rc=1
"$cowfs" fsck || rc=1
exit "$rc"
