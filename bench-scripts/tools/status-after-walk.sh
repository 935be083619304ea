#!/usr/bin/env bash
# Would a walk of a fresh fork at mount time (READDIRPLUS, which makes the kernel's dentries and
# inodes for every entry) make its first `git status` cheaper? Per round, each on a fresh fork of
# 06-git-status.sh's snapshot `repo`, mounted with no drop_caches (a CI job's fork, then its status):
#   A  git status at once
#   B  find over the mount, then git status (total, and the status alone)
#   C  find and git status started together (total: both done)
#   bench-scripts/tools/status-after-walk.sh        (ROUNDS="1 2 3", MODES="A B C"; run 06-git-status.sh once first)
source "$(dirname "$0")/../lib.sh"
require_jar
MP=$MNT/status-walk; mkdir -p "$MP"
cw list 2>/dev/null | grep -qw repo || { echo "status-after-walk.sh: no snapshot 'repo' in $STORE (run 06-git-status.sh once)" >&2; exit 1; }
for round in ${ROUNDS:-1 2 3}; do
  for mode in ${MODES:-A B C}; do
    v=$(uname_ sw); cw fork repo --name "$v" >/dev/null && mount_cowfs "$v" "$MP" || exit 1
    t0=$(now); t1=
    case $mode in
      A) (cd "$MP" && git status --porcelain >/dev/null) ;;
      B) find "$MP" >/dev/null; t1=$(now); (cd "$MP" && git status --porcelain >/dev/null) ;;
      C) find "$MP" >/dev/null & (cd "$MP" && git status --porcelain >/dev/null); wait ;;
    esac
    echo "round $round mode $mode total $(since "$t0") s${t1:+, status after the walk $(since "$t1") s}"
    umount_cowfs "$MP"; cw rm "$v" >/dev/null
  done
done
