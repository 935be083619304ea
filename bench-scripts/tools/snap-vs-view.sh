#!/bin/bash
# cold 1 GiB read through a snapshot mount and through a fresh view of it, alternating; fresh mount processes (no spare)
# (needs the bench store of 01-import: snapshot "big"). ROUNDS (default 5). docs/PERFORMANCE.md, 2026-12-03.
here=$(cd "$(dirname "$0")" && pwd); cd "$here/.." && source lib.sh >/dev/null 2>&1; trap - EXIT
S=$STORE
export COWFS_MOUNT_SPARE=${SPARE:-0}
cw rm sv-view >/dev/null 2>&1; cw fork big --name sv-view >/dev/null
M=$MNT/sv; mkdir -p $M
for r in $(seq 1 "${ROUNDS:-5}"); do
  for n in big sv-view; do
    cw mount $n $M >/dev/null || exit 1
    cat $S/packs/* > /dev/null; drop_caches
    s=$(date +%s.%N); dd if=$M/big.bin of=/dev/null bs=1M status=none; e=$(date +%s.%N)
    cw umount $M >/dev/null
    echo "$r $n $(echo "$e - $s" | bc)"
  done
done
cw rm sv-view >/dev/null
