#!/usr/bin/env bash
# xfstests' fsx (the file system exerciser: random read, write, mapread, mapwrite, truncate,
# fallocate, punch hole, zero range, copy_file_range, each read checked against its model of the
# file) run in a view: with the kernel's page cache dropped between ops (-f), with O_DIRECT, with
# an fsync after every write, and two at once while the view is frozen into snapshots; then the store is checked
# with fsck and verify. Not part of the test suite: fsx is not packaged by Debian, so it is built
# from an xfstests checkout here, and a run takes about 5 minutes.
#
# Usage: bash scripts/fsx-view.sh XFSTESTS_SOURCE_DIR [OPS] [kernel|libfuse2]   (OPS default 20000)
#   XFSTESTS_SOURCE_DIR: a checkout of git://git.kernel.org/pub/scm/fs/xfs/xfstests-dev.git (or a
#   mirror) with ltp/fsx.c and src/global.h; fsx is built there with gcc if absent (no autotools:
#   the config.h written below holds what Linux has).
# Exit 0 only if every fsx run completes, fsck and verify are clean.
set -euo pipefail
src="${1:?usage: scripts/fsx-view.sh XFSTESTS_SOURCE_DIR [OPS] [kernel|libfuse2]}"
src="$(cd "$src" && pwd)" # before the cd below: a path relative to the caller's directory
ops="${2:-20000}"
api="${3:-kernel}"
cd "$(dirname "$0")/.."
cowfs="$PWD/cowfs"
fsx="$src/ltp/fsx"
if [ ! -x "$fsx" ]; then
  [ -f "$src/ltp/fsx.c" ] && [ -f "$src/src/global.h" ] || { echo "$src: no ltp/fsx.c and src/global.h there" >&2; exit 2; }
  cfg="$(mktemp -d)"
  { printf '#define HAVE_%s 1\n' SYS_TYPES_H SYS_STAT_H SYS_STATVFS_H SYS_TIME_H SYS_IOCTL_H SYS_WAIT_H \
      MALLOC_H UNISTD_H FCNTL_H LINUX_FALLOC_H SYS_MMAN_H SYS_PRCTL_H LINUX_FS_H COPY_FILE_RANGE \
      ASSERT_H ERRNO_H ERR_H LIBGEN_H STDLIB_H STRINGS_H STRING_H SYS_PARAM_H TIME_H DIRENT_H
    echo '#include <getopt.h>'; } >"$cfg/config.h"
  gcc -D_GNU_SOURCE -I"$cfg" -I"$src/src" -I"$src/include" -o "$fsx" "$src/ltp/fsx.c"
  rm -rf "$cfg"
fi
work="$(mktemp -d /tmp/cowfs-fsx.XXXXXX)"
export COWFS_STORE="$work/store"
mp="$work/view"
logs="$work/logs"
cleanup() {
  (($?)) && keep=1 # stopped by an error: keep what shows it
  kill "${a:-}" "${b:-}" 2>/dev/null || true
  wait 2>/dev/null || true
  cd /
  mountpoint -q "$mp" 2>/dev/null && { "$cowfs" umount "$mp" >/dev/null || fusermount3 -uz "$mp" || true; }
  [ -n "${keep:-}" ] || mountpoint -q "$mp" 2>/dev/null || rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/src" "$mp" "$logs"
echo seed >"$work/src/seed"
"$cowfs" init >/dev/null
"$cowfs" import "$work/src" --name base >/dev/null
"$cowfs" fork base --name v >/dev/null
"$cowfs" mount v "$mp" --fuse-api="$api" >/dev/null
failed=()
run() { # name, fsx options...
  local name="$1"
  shift
  if (cd "$mp" && "$fsx" -q -N "$ops" -P "$logs" "$@" "$name") >"$logs/$name.out" 2>&1; then
    echo "fsx $name ($*): $(tail -1 "$logs/$name.out")"
  else
    echo "fsx $name ($*) FAILED:"
    tail -20 "$logs/$name.out" | sed 's/^/    /' || true
    failed+=("$name")
  fi
}
run cache -l 4194304 -o 262144 -c 200 -f -S 7     # multi-block file, page cache dropped: reads come from the view
run big -l 8388608 -o 1048576 -S 11               # 1 MiB ops, up to 8 MiB
run sync -l 1048576 -y -S 13                      # fsync after every write
run direct -Z -R -W -r 4096 -w 4096 -t 4096 -l 4194304 -o 262144 -S 17   # O_DIRECT
run small -l 262144 -c 50 -f -S 19                # one small file, reopened often
# two at once, frozen into snapshots as they go
run two-a -l 4194304 -o 262144 -c 100 -f -S 23 &
a=$!
run two-b -l 2097152 -y -S 29 &
b=$!
for i in 1 2 3 4; do
  sleep 5
  "$cowfs" snapshot v --name "s$i" >/dev/null || failed+=("snapshot $i")
done
wait "$a" "$b" || true
a= b=
# run's failed+= happened in the background subshells: their verdict is fsx's last line
grep -q "A-OK" "$logs/two-a.out" || failed+=("two-a")
grep -q "A-OK" "$logs/two-b.out" || failed+=("two-b")
"$cowfs" snapshot v --name last >/dev/null || failed+=("snapshot")
"$cowfs" umount "$mp" >/dev/null || failed+=("umount")
"$cowfs" fsck || failed+=("fsck")
"$cowfs" verify | tail -1 || failed+=("verify")
if ((${#failed[@]})); then
  keep=1
  echo "FAILED: ${failed[*]} (fsx's logs and the store kept in $work)"
  exit 1
fi
echo "every fsx run passed ($ops ops each, --fuse-api=$api); fsck and verify clean"
