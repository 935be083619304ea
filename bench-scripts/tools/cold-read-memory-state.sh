#!/bin/bash
# cold 1 GiB read, cowfs snapshot and fuse-overlayfs, with and without 3 GiB of memory touched and freed just before
# (needs the bench store of 01-import and its data dir). docs/PERFORMANCE.md, 2026-12-03.
here=$(cd "$(dirname "$0")" && pwd); cd "$here/.." && source lib.sh >/dev/null 2>&1; trap - EXIT
S=$STORE
export COWFS_MOUNT_SPARE=0
M=$MNT/pf; F=$MNT/pf-fovl; mkdir -p $M $F
cat $S/packs/* $DATA/big/big.bin > /dev/null
for r in $(seq 1 "${ROUNDS:-3}"); do
  for sys in cowfs fovl; do
    for how in plain prefault; do
      if [ $sys = cowfs ]; then cw mount big $M >/dev/null || exit 1; P=$M/big.bin
      else mount_fovl "$DATA" $TMPW/pf-fovl-ub $F || exit 1; P=$F/big/big.bin; fi
      if [ $how = prefault ]; then PRETOUCH_GIB=3 drop_caches; else PRETOUCH_GIB=0 drop_caches; fi
      s=$(date +%s.%N); dd if=$P of=/dev/null bs=1M status=none; e=$(date +%s.%N)
      if [ $sys = cowfs ]; then cw umount $M >/dev/null; else fusermount3 -u $F; fi
      echo "$r $sys $how $(echo "$e - $s" | bc)"
    done
  done
done
