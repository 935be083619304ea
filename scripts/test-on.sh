#!/usr/bin/env bash
# Runs every test (scripts/test.sh) with every test's temp dir on another filesystem: a fresh XFS or
# btrfs on a loop image, or a tmpfs, made for the run and removed after it. The tests' stores, source
# trees, mount points and exports then all live there (docs/HOST-FILESYSTEMS.md). As root.
#   bash scripts/test-on.sh xfs|btrfs|tmpfs [MAVEN ARGS...]      e.g. -Dtest='ViewPosixIT' -pl cli
set -euo pipefail
type=${1:-}
[[ $type == xfs || $type == btrfs || $type == tmpfs ]] || { echo "usage: $0 xfs|btrfs|tmpfs [maven args]" >&2; exit 2; }
shift
[[ $(id -u) -eq 0 ]] || { echo "cowfs: $0 mounts a filesystem: run it as root" >&2; exit 1; }
cd "$(dirname "$0")/.."
bash scripts/deps.sh
work=$(mktemp -d /var/tmp/cowfs-test-on.XXXXXX)
chmod 755 "$work" # the tests' other accounts (SecurityIT, LauncherIT) must reach the mount below
mnt=$work/mnt
dev=
cleanup() {
  if mountpoint -q "$mnt"; then umount "$mnt" || umount -l "$mnt"; fi
  [[ -z $dev ]] || losetup -d "$dev"
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$mnt"
if [[ $type == tmpfs ]]; then
  mount -t tmpfs -o size=12g tmpfs "$mnt"
else
  truncate -s 24g "$work/disk.img" # sparse: takes what the tests write
  "mkfs.$type" -q -f "$work/disk.img"
  dev=$(losetup -f --show "$work/disk.img")
  mount "$dev" "$mnt"
fi
chmod 1777 "$mnt"
echo "cowfs: tests with their temp dir on $type at $mnt" >&2
bash scripts/test.sh "-Dcowfs.test.jvm=-Djava.io.tmpdir=$mnt" "$@"
