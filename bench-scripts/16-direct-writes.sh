#!/usr/bin/env bash
# Workload 16: O_DIRECT random 4 KiB writes (what a database or qemu with cache=none does) into the
# 1 GiB file of the base, by root and by root without CAP_FSETID (as any other user writes: the
# kernel then marks each WRITE "kill setuid/setgid", and the filesystem checks the file's mode).
# fio IOPS, IO_SIZE (default 64M) per run, ROUNDS rounds (default 3), systems alternating. In a
# cowfs view, kernel overlayfs and fuse-overlayfs (upper on ext4; the file copied up before fio
# starts). OLD_JAR=PATH adds a build, as 14-seek.sh. Not in run-all.sh.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot big "$DATA/big"
IO_SIZE=${IO_SIZE:-64M}
ROUNDS=${ROUNDS:-3}
res_begin direct-writes "fio O_DIRECT random 4 KiB writes ($IO_SIZE) into the ${BIG_MB} MiB base file, with and without CAP_FSETID"
layer_systems
declare -A IOPS
for ((r = 1; r <= ROUNDS; r++)); do
  for sys in "${SYSTEMS[@]}"; do
    for who in root nofsetid; do
      DIR=
      mount_layer "$sys" big "$DATA/big" dw "$MNT/dw" && DIR=$MNT/dw
      if [[ -n $DIR ]]; then
        # the overlays copy the whole file up at its first open for writing: done before fio's clock
        /usr/bin/python3 -c 'import sys; open(sys.argv[1], "r+b").close()' "$DIR/big.bin"
        pre=(); [[ $who == nofsetid ]] && pre=(setpriv --bounding-set -fsetid)
        v_iops=$(cd "$DIR" && "${pre[@]}" fio --name=w --ioengine=psync --direct=1 --rw=randwrite --bs=4k --size=${BIG_MB}M \
            --io_size="$IO_SIZE" --randrepeat=0 --refill_buffers=1 --filename=big.bin --output-format=json 2>/dev/null \
            | /usr/bin/python3 -c 'import json,sys; print(round(json.load(sys.stdin)["jobs"][0]["write"]["iops"]))') \
          || abnormal "direct-writes: fio in $sys as $who failed"
        IOPS[$sys,$who]+="${v_iops:-} "
        metric "direct-writes.$sys.$who.r$r" "${v_iops:--}"
      else
        abnormal "direct-writes: set-up of $sys failed"
      fi
      umount_layer "$sys" dw "$MNT/dw"
    done
  done
  log "direct-writes: round $r done"
done
hdr=("IOPS, median of $ROUNDS (all)"); for sys in "${SYSTEMS[@]}"; do hdr+=("${LABEL[$sys]}"); done
th "${hdr[@]}"
for who in root nofsetid; do
  row=("$([[ $who == root ]] && echo "root" || echo "root without CAP_FSETID")")
  for sys in "${SYSTEMS[@]}"; do
    read -r -a xs <<< "${IOPS[$sys,$who]:-}"
    row+=("$(median "${xs[@]}") (${xs[*]})")
  done
  tr_ "${row[@]}"
done
note "fio --ioengine=psync --direct=1 --rw=randwrite --bs=4k --io_size=$IO_SIZE into big.bin, a fresh view or overlay each run;" \
     "without CAP_FSETID: setpriv --bounding-set -fsetid (what every process of a user other than root lacks)."
