#!/usr/bin/env bash
# xfstests' generic tests (the Linux kernel's filesystem regression suite: I/O and mmap
# consistency, fallocate, holes, xattrs and ACLs, rename, link counts, timestamps, fsync and
# remount persistence, ...) run against two views mounted through mount(8) as FSTYP=fuse
# (README.fuse of xfstests): TEST_DEV is the view xtest, SCRATCH_DEV the view xscratch, both forked
# from an empty snapshot of one store. Then the store is checked with fsck and verify. Not part of
# the test suite: xfstests is not packaged by Debian, so it is built from its source here, and the
# quick group takes about an hour.
#
# Usage: bash scripts/xfstests-view.sh XFSTESTS_SOURCE_DIR [CHECK_ARGS...]
#   XFSTESTS_SOURCE_DIR: a checkout of git://git.kernel.org/pub/scm/fs/xfs/xfstests-dev.git (or a
#   mirror); built there with make if ltp/fsstress is absent (its build needs:
#   apt-get install -y autoconf automake libtool-bin make gcc pkg-config xfslibs-dev uuid-dev
#     libattr1-dev libacl1-dev libaio-dev liburing-dev libgdbm-dev gawk bc psmisc attr acl
#     quota xfsprogs e2fsprogs libcap2-bin python3 sqlite3 file fio dbench fuse3).
#   CHECK_ARGS: what xfstests' ./check takes; default "-g generic/quick". E.g.
#     generic/001 generic/013      -g generic/quick -e generic/475      -g generic/auto
#   XFSTESTS_TIMEOUT=SECONDS (default 5400) bounds the whole ./check run.
# Needs root: xfstests switches to its users (fsgqa, 123456-fsgqa, fsgqa2; created here when
# missing) and mount(8) runs the helper /sbin/mount.fuse.cowfs, written here for the run (one
# already there is put back at exit). The results stay in XFSTESTS_SOURCE_DIR/results/ (or
# $RESULT_BASE); the mount log, check's output and the config stay in the directory printed at the
# start, and so does the store when fsck or verify fails, or with KEEP_STORE=1.
# The helper honours ro, nosuid, nodev and noexec, and mounts a view that is mounted already as a
# bind of that mount (the same superblock, as a second mount of a block device is: a view is
# served by one process). What the harness cannot do on FUSE: xfstests' _scratch_mkfs does
# nothing for fuse, so the scratch view is not emptied between tests; and df's type is fuse.cowfs
# where xfstests expects fuse (a df wrapper given as DF_PROG says fuse).
# Exit status: check's (0 only if no test failed), or 1 if fsck or verify is not clean.
set -euo pipefail
src="${1:?usage: scripts/xfstests-view.sh XFSTESTS_SOURCE_DIR [CHECK_ARGS...]}"
src="$(cd "$src" && pwd)" # before the cd below: a path relative to the caller's directory
shift
(($#)) || set -- -g generic/quick
cd "$(dirname "$0")/.."
cowfs="$PWD/cowfs"
[ "$(id -u)" = 0 ] || { echo "xfstests runs as root (it mounts, and switches to other users)" >&2; exit 2; }
[ -x "$src/check" ] && [ -f "$src/common/rc" ] || { echo "$src: no check and common/rc there" >&2; exit 2; }
for tool in xfs_io attr setfacl findmnt mount fusermount3; do
  command -v "$tool" >/dev/null || { echo "needs $tool: see the apt-get line at the top of $0" >&2; exit 2; }
done
if [ ! -x "$src/ltp/fsstress" ] || [ ! -x "$src/src/xfsctl" ]; then
  echo "building xfstests in $src ..."
  (cd "$src" && make -j"$(nproc)") >"$src/make.log" 2>&1 \
    || { tail -20 "$src/make.log" >&2; echo "xfstests build failed (all of it in $src/make.log)" >&2; exit 2; }
fi
# the users xfstests' README asks for (tests that need them are "not run" without them)
id fsgqa >/dev/null 2>&1 || useradd -m fsgqa
id 123456-fsgqa >/dev/null 2>&1 || useradd 123456-fsgqa 2>/dev/null || useradd --badname 123456-fsgqa
id fsgqa2 >/dev/null 2>&1 || useradd fsgqa2
getent group fsgqa >/dev/null || groupadd fsgqa

work="$(mktemp -d /tmp/cowfs-xfstests.XXXXXX)"
chmod 755 "$work" # the tests' other users walk into the mount points below it
export COWFS_STORE="$work/store"
logs="$work/logs"
test_mnt="$work/mnt/test"
scratch_mnt="$work/mnt/scratch"
helper=/sbin/mount.fuse.cowfs
echo "logs, the store and the config in $work; results in ${RESULT_BASE:-$src/results/}"
cleanup() {
  local rc=$?
  cd /
  # a test killed halfway can leave its view mounted, a mount inside it, or one mounted twice over
  local mp
  for mp in $(findmnt -rn -o TARGET | grep -F "$work/mnt/" | sort -r || true); do
    timeout 60 umount "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
  done
  for mp in "$scratch_mnt" "$test_mnt"; do
    for _ in 1 2 3; do
      mountpoint -q "$mp" 2>/dev/null || break
      timeout 60 umount "$mp" 2>/dev/null || timeout 30 fusermount3 -uz "$mp" 2>/dev/null || umount -l "$mp" 2>/dev/null || true
    done
  done
  if [ -e "$work/helper.orig" ] || [ -L "$work/helper.orig" ]; then
    mv -f "$work/helper.orig" "$helper"
  elif [ -n "${wrote_helper:-}" ]; then
    rm -f "$helper"
  fi
  echo "logs and the config kept in $work"
  return "$rc"
}
trap cleanup EXIT
mkdir -p "$work/empty" "$logs" "$test_mnt" "$scratch_mnt" "$work/bin"
"$cowfs" init >/dev/null
"$cowfs" import "$work/empty" --name base >/dev/null
"$cowfs" fork base --name xtest >/dev/null
"$cowfs" fork base --name xscratch >/dev/null

# mount(8) runs /sbin/mount.fuse.cowfs SOURCE DIR [-o OPTIONS]: SOURCE is cowfs:VIEW, the fsname a
# cowfs mount shows in /proc/mounts, so that xfstests finds TEST_DEV and SCRATCH_DEV mounted and
# umount(8) unmounts them by that name. Nothing is printed on success: tests compare mount's output.
# (cowfs install-helpers' mount.cowfs takes the view name and store=DIR; this one knows the store.)
if [ -e "$helper" ] || [ -L "$helper" ]; then
  mv "$helper" "$work/helper.orig"
fi
wrote_helper=1
cat >"$helper" <<EOF
#!/usr/bin/env bash
# written by scripts/xfstests-view.sh for one xfstests run ($work); removed at its end
export COWFS_STORE='$COWFS_STORE'
# check runs the tests without HOME: cowfs then finds neither its class-data archive nor a spare
# mount process in ~/.cache/cowfs, and every mount starts a JVM from nothing (2-3 s, not 1)
export HOME="\${HOME:-$(getent passwd "$(id -un)" | cut -d: -f6)}"
${COWFS_JAR:+export COWFS_JAR='$COWFS_JAR'}
name="\${1#cowfs:}" dir="\$2"
shift 2
opts=""
while (( \$# )); do
  case "\$1" in
    -o) opts="\${opts:+\$opts,}\${2:-}"; shift 2 || shift;;
    -o*) opts="\${opts:+\$opts,}\${1#-o}"; shift;;
    -t|-N) shift 2 || shift;;
    *) shift;;
  esac
done
ro="" suid=--suid dev=--dev noexec="" kflags=""
IFS=, read -ra o <<<"\$opts"
for x in "\${o[@]}"; do
  case "\$x" in
    remount) # a remount changes the kernel's flags only: mount(8) does that itself without a helper
      exec mount -i -t fuse.cowfs -o "\$opts" "cowfs:\$name" "\$dir";;
    ro) ro=--ro;;
    rw) ro=;;
    # mount(8) passes a helper nosuid, nodev and noexec (suid, dev and exec are its defaults):
    # cowfs mount leaves out --suid and --dev for the first two and has no option for the third
    nosuid) suid= kflags="\$kflags,nosuid";;
    nodev) dev= kflags="\$kflags,nodev";;
    noexec) noexec=1;;
  esac
done
echo "\$(date '+%F %T') mount \$name \$dir -o \$opts" >>'$logs/mount.log'
# a view is served by one process at a time: a second mount of it (generic/732) is what a second
# mount of a block device is on Linux, another mount of the same superblock: a bind of the first
first="\$(findmnt -rn -S "cowfs:\$name" -o TARGET | head -1)"
if [ -n "\$first" ]; then
  mount --bind "\$first" "\$dir" || exit 32
  [ -z "\$ro\$kflags\$noexec" ] || exec mount -i -o "remount,bind\${ro:+,ro}\$kflags\${noexec:+,noexec}" "\$dir"
  exit 0
fi
if ! timeout 300 '$cowfs' mount "\$name" "\$dir" --allow-other \$dev \$suid \$ro >>'$logs/mount.log' 2>&1; then
  echo "mount.fuse.cowfs: cowfs mount \$name \$dir failed (see $logs/mount.log, $COWFS_STORE/run/\$name.log)" >&2
  exit 32
fi
if [ -n "\$noexec" ]; then # a remount sets all of the mount's flags
  exec mount -i -t fuse.cowfs -o "remount,noexec\${ro:+,ro}\$kflags" "cowfs:\$name" "\$dir"
fi
EOF
chmod 755 "$helper"
# xfstests checks that TEST_DEV is mounted "as $FSTYP": df -T says fuse.cowfs, xfstests wants fuse
cat >"$work/bin/df" <<'EOF'
#!/bin/sh
df "$@" | sed 's/^\(cowfs:[^ ]*  *\)fuse\.cowfs /\1fuse       /'
EOF
chmod 755 "$work/bin/df"
cat >"$work/local.config" <<EOF
export FSTYP=fuse
export FUSE_SUBTYP=.cowfs
export TEST_DEV=cowfs:xtest
export TEST_DIR=$test_mnt
export SCRATCH_DEV=cowfs:xscratch
export SCRATCH_MNT=$scratch_mnt
export MOUNT_OPTIONS=""
export TEST_FS_MOUNT_OPTS=""
export DF_PROG="$work/bin/df -T -P"
EOF

echo "./check $*"
set +e
(cd "$src" && HOST_OPTIONS="$work/local.config" timeout --kill-after=60 "${XFSTESTS_TIMEOUT:-5400}" ./check "$@") 2>&1 \
  | tee "$logs/check.log"
rc="${PIPESTATUS[0]}"
set -e
[ "$rc" = 124 ] && echo "check stopped after ${XFSTESTS_TIMEOUT:-5400} s"
for mp in "$scratch_mnt" "$test_mnt"; do
  while mountpoint -q "$mp"; do timeout 60 umount "$mp" || break; done
done
sleep 2 # the mount processes commit and exit after umount returns
clean=1
"$cowfs" fsck >"$logs/fsck.log" 2>&1 || { echo "fsck FAILED (see $logs/fsck.log)"; rc=1; clean=; }
"$cowfs" verify >"$logs/verify.log" 2>&1 || { echo "verify FAILED (see $logs/verify.log)"; rc=1; clean=; }
tail -1 "$logs/verify.log"
# the store (about a GiB after the quick group) is evidence only when fsck or verify found something
if [ -n "$clean" ] && [ -z "${KEEP_STORE:-}" ] && ! mountpoint -q "$test_mnt" && ! mountpoint -q "$scratch_mnt"; then
  rm -rf "$COWFS_STORE"
fi
exit "$rc"
