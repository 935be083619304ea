#!/usr/bin/env bash
# 03-reads.sh's cold sequential read in isolation: prime the host's cache, drop the guest's, mount the tree and the
# big-file snapshots (as 03-reads.sh does), dd the big file. Alternates two settings per round:
#   bench-scripts/tools/drop-then-mount.sh [ROUNDS]        (default 3)
# MODE=spare (default): COWFS_MOUNT_SPARE 0 against 60 (the second round's mounts find the spare of the first)
# MODE=jvm: both mounts fresh processes; against a cowfs JVM alive across the drop (libjvm, modules, jar cached)
cd "$(dirname "$0")/.." && source lib.sh >/dev/null 2>&1
trap - EXIT
ROUNDS=${1:-3}
M1=$MNT/dtm-tree; M2=$MNT/dtm-big; mkdir -p "$M1" "$M2"
ensure_data; ensure_snapshot tree "$DATA/tree"; ensure_snapshot big "$DATA/big"
for ((r = 1; r <= ROUNDS; r++)); do
  for setting in a b; do
    sp=0
    if [[ ${MODE:-spare} == spare ]]; then [[ $setting == b ]] && sp=60
    else
      pkill -x cowfs-idle; sleep 0.3
      if [[ $setting == b ]]; then
        COWFS_MOUNT_SPARE=60 "${COWFS_CMD[@]}" mount --store="$STORE" big "$M2" >/dev/null && "${COWFS_CMD[@]}" umount --store="$STORE" "$M2" >/dev/null
      fi
    fi
    prime_host; drop_caches
    COWFS_MOUNT_SPARE=$sp "${COWFS_CMD[@]}" mount --store="$STORE" tree "$M1" >/dev/null || exit 1
    COWFS_MOUNT_SPARE=$sp "${COWFS_CMD[@]}" mount --store="$STORE" big "$M2" >/dev/null || exit 1
    t0=$(now); dd if="$M2/big.bin" of=/dev/null bs=1M status=none; t=$(since "$t0")
    echo "round $r, ${MODE:-spare} setting $setting (COWFS_MOUNT_SPARE=$sp): cold read $t s"
    "${COWFS_CMD[@]}" umount --store="$STORE" "$M1" >/dev/null; "${COWFS_CMD[@]}" umount --store="$STORE" "$M2" >/dev/null
  done
done
pkill -x cowfs-idle || true
