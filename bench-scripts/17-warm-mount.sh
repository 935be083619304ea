#!/usr/bin/env bash
# How much of a fresh mount's cold read and sequential write is the mount process's own start (a new JVM:
# its JIT compiler, interpreter and first-touched memory), against kernel overlayfs and fuse-overlayfs in the
# same run. Per system and round: one fresh mount, then
#   read   dd of the 1 GiB file, the guest's page cache dropped first (the host's primed, as in 03-reads.sh);
#          then the same again through the same mount ("2nd": for cowfs a warm mount process, the data still cold)
#   write  fio sequential 1 GiB write into a new file, end_fsync (as 04-writes.sh "seq"), page cache dropped
#          first; then a second new file through the same mount ("2nd")
# ROUNDS (default 3) rounds, systems alternating within each; medians. SYSTEMS="ovl fovl cow" picks a subset.
# The cowfs write runs in a fresh view of the bench store's 1 GiB snapshot, removed (and gc run) after each round.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot big "$DATA/big"
ROUNDS=${ROUNDS:-3}
read -r -a SYSTEMS <<< "${SYSTEMS:-ovl fovl cow}"
declare -A LABEL=([ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [cow]="**cowfs** (snapshot for reads, view for writes)")
FIO=(fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 --name=w --rw=write --bs=1M
     --size="${BIG_MB}M")

VIEW=; DIR=
setup() { # SYSTEM read|write: mounts, sets DIR
  case $1 in
    ovl) mount_overlay "$DATA/big" "$TMPW/wm-ovl" "$MNT/wm-ovl"; DIR=$MNT/wm-ovl ;;
    fovl) mount_fovl "$DATA/big" "$TMPW/wm-fovl" "$MNT/wm-fovl"; DIR=$MNT/wm-fovl ;;
    cow) if [[ $2 == read ]]; then mount_cowfs big "$MNT/wm-cow"
         else VIEW=$(uname_ wm); cw fork big --name "$VIEW" >/dev/null && mount_cowfs "$VIEW" "$MNT/wm-cow"; fi
         DIR=$MNT/wm-cow ;;
  esac
}
teardown() {
  case $1 in
    ovl) umount_any "$MNT/wm-ovl"; rm -rf "$TMPW/wm-ovl" ;;
    fovl) umount_any "$MNT/wm-fovl"; rm -rf "$TMPW/wm-fovl" ;;
    cow) umount_cowfs "$MNT/wm-cow"
         if [[ $2 == write ]]; then cw rm "$VIEW" >/dev/null || abnormal "rm $VIEW failed"; cw gc >/dev/null || abnormal "gc failed"; fi ;;
  esac
}

declare -A T
res_begin warm-mount "A fresh mount's cold read and sequential write, and the same again through the same mount"
for ((r = 1; r <= ROUNDS; r++)); do
  for sys in "${SYSTEMS[@]}"; do
    for op in read write; do
      log "warm-mount: round $r, $sys, $op"
      setup "$sys" "$op" || { abnormal "set-up of $sys failed"; continue; }
      for k in 1 2; do
        if [[ $op == read ]]; then
          prime_host || true; drop_caches
          t0=$(now); dd if="$DIR/big.bin" of=/dev/null bs=1M status=none || abnormal "$sys: dd failed"; t=$(since "$t0")
        else
          drop_caches
          t0=$(now); (cd "$DIR" && "${FIO[@]}" --filename="new$k.bin" > /dev/null) || abnormal "$sys: fio failed"; t=$(since "$t0")
        fi
        T[$sys,$op,$k]+=" $t"
        log "  $op $k: $t s"
        metric "warm-mount.$sys.$op.$k.r$r" "$t"
      done
      teardown "$sys" "$op"
    done
  done
done

th "system" "cold 1 GiB read, fresh mount (s)" "again, same mount (s)" "seq 1 GiB write, fresh mount (s)" "again, same mount (s)"
declare -A M
for sys in "${SYSTEMS[@]}"; do
  row=("${LABEL[$sys]}")
  for op in read write; do
    for k in 1 2; do
      # shellcheck disable=SC2086
      M[$sys,$op,$k]=$(median ${T[$sys,$op,$k]:-})
      row+=("${M[$sys,$op,$k]}")
      metric "warm-mount.$sys.$op.$k.median" "${M[$sys,$op,$k]}"
    done
  done
  tr_ "${row[@]}"
done
for peer in ovl fovl; do
  [[ -n ${M[$peer,read,1]:-} && -n ${M[cow,read,1]:-} ]] || continue
  tr_ "cowfs / ${LABEL[$peer]}" "$(ratio "${M[cow,read,1]}" "${M[$peer,read,1]}")" "$(ratio "${M[cow,read,2]}" "${M[$peer,read,2]}")" \
    "$(ratio "${M[cow,write,1]}" "${M[$peer,write,1]}")" "$(ratio "${M[cow,write,2]}" "${M[$peer,write,2]}")"
done
note "Medians of $ROUNDS rounds (systems alternating within each round). Reads: \`dd bs=1M\` of the ${BIG_MB} MiB file," \
  "the host's cache primed and the guest's dropped before each read, so both reads of a mount are cold reads of the data;" \
  "for cowfs the second is served by a mount process that has run once (JIT-compiled, its memory touched)." \
  "Writes: \`${FIO[*]}\`, new1.bin then new2.bin in one mount, page cache dropped before each."
