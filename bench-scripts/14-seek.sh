#!/usr/bin/env bash
# Workload 14: per-call costs on a large file that grow with its size, if the filesystem walks its
# block map: lseek SEEK_HOLE and SEEK_DATA at random offsets (what qemu-img, cp --sparse and tar
# --sparse ask), in the 1 GiB file of the base and in a 1 GiB file just written there (fio, end_fsync),
# for 2 s each. In a cowfs view, kernel overlayfs and fuse-overlayfs (upper on ext4). Not in run-all.sh.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot big "$DATA/big"
res_begin seek "lseek SEEK_HOLE / SEEK_DATA at random offsets in a ${BIG_MB} MiB file"
# OLD_JAR=PATH adds "cowold": a view of the same store mounted by that build, in the same run, for
# a before/after ratio beside the peers (the store stays the current build's)
layer_systems
declare -A RATE
for sys in "${SYSTEMS[@]}"; do
  DIR=
  mount_layer "$sys" big "$DATA/big" sk "$MNT/sk" && DIR=$MNT/sk
  if [[ -z $DIR ]]; then
    abnormal "seek: set-up of $sys failed"
    umount_layer "$sys" sk "$MNT/sk" # what the set-up made before it failed goes again
    continue
  fi
  (cd "$DIR" && fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --name=w --rw=write --bs=1M \
      --size=${BIG_MB}M --filename=new.bin >/dev/null) || abnormal "$sys: fio failed"
  # a file rewritten 4 KiB at a time after it was written whole (a VM image, a database): in a
  # view its blocks become sub-block deltas, which SEEK_HOLE looks into for hole pages
  (cd "$DIR" && cp --reflink=never new.bin rw.bin && fio --ioengine=psync --end_fsync=1 --refill_buffers=1 --name=rw \
      --rw=randwrite --bs=4k --size=${BIG_MB}M --io_size=$((BIG_MB / 8))M --filename=rw.bin >/dev/null) || abnormal "$sys: fio randwrite failed"
  while read -r key rate; do RATE[$sys,$key]=$rate; metric "seek.$sys.$key" "$rate"; done < <(/usr/bin/python3 - "$DIR" <<'PY'
import os, random, sys, time
for f in ("big.bin", "new.bin", "rw.bin"):
    fd = os.open(os.path.join(sys.argv[1], f), os.O_RDONLY)
    size = os.fstat(fd).st_size
    for name, whence in (("hole", os.SEEK_HOLE), ("data", os.SEEK_DATA)):
        r = random.Random(1); n = 0; t = time.time()
        while time.time() - t < 2:
            os.lseek(fd, r.randrange(size), whence); n += 1
        print(f"{f.split('.')[0]}.{name}", round(n / 2))
    os.close(fd)
PY
)
  umount_layer "$sys" sk "$MNT/sk"
  log "seek: $sys done"
done
hdr=("calls per second"); for sys in "${SYSTEMS[@]}"; do hdr+=("${LABEL[$sys]}"); done
th "${hdr[@]}"
for key in big.hole big.data new.hole new.data rw.hole rw.data; do
  row=("$key"); for sys in "${SYSTEMS[@]}"; do row+=("${RATE[$sys,$key]:--}"); done
  tr_ "${row[@]}"
done
note "big = the ${BIG_MB} MiB file of the base (the overlays' lower layer, the snapshot's file in cowfs), all data;" \
     "new = a ${BIG_MB} MiB file written in the view with fio; rw = a copy of new with $((BIG_MB / 8)) MiB of random 4 KiB writes (fio, end_fsync). hole/data: SEEK_HOLE / SEEK_DATA at uniformly random offsets, 2 s each."
