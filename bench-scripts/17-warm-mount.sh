#!/usr/bin/env bash
# What a fresh mount process costs, and what a spare one (docs/STARTUP.md, "Spare mount processes") gives back,
# against kernel overlayfs and fuse-overlayfs in the same run. Per system, round and operation:
#   1  a fresh mount (cowfs: a new mount process: idle spares are ended first)
#   2  the same again through the same mount (cowfs: a mount process that has run once)
#   3  a new mount after the umount (cowfs: served by the spare the first mount's process became; peers: a new mount)
# read   dd of the 1 GiB file, the guest's page cache dropped first (the host's primed, as in 03-reads.sh)
# write  fio sequential 1 GiB write into a new file, end_fsync (as 04-writes.sh "seq"), page cache dropped first
# and the wall time of the mount command for 1 and 3. ROUNDS (default 3) rounds, systems alternating within each;
# medians. SYSTEMS="ovl fovl cow" picks a subset. The cowfs writes run in fresh views of the bench store's 1 GiB
# snapshot, removed (and gc run) after each.
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
setup() { # SYSTEM read|write fresh|spare: mounts, sets DIR, records the mount's wall time in MT
  local t0
  case $1 in
    ovl) t0=$(now); mount_overlay "$DATA/big" "$TMPW/wm-ovl" "$MNT/wm-ovl"; MT=$(since "$t0"); DIR=$MNT/wm-ovl ;;
    fovl) t0=$(now); mount_fovl "$DATA/big" "$TMPW/wm-fovl" "$MNT/wm-fovl"; MT=$(since "$t0"); DIR=$MNT/wm-fovl ;;
    cow) [[ $3 == fresh ]] && { pkill -x cowfs-idle; sleep 0.2; } # no spare of an earlier mount
         local name=big
         if [[ $2 == write ]]; then VIEW=$(uname_ wm); cw fork big --name "$VIEW" >/dev/null || return 1; name=$VIEW; fi
         mkdir -p "$MNT/wm-cow"
         t0=$(now); "${COWFS_CMD[@]}" mount --store="$STORE" "$name" "$MNT/wm-cow" >/dev/null || return 1; MT=$(since "$t0")
         track_mount "cowfs:$STORE" "$MNT/wm-cow"; DIR=$MNT/wm-cow ;;
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
measure() { # SYSTEM OP K ROUND
  local t t0
  if [[ $2 == read ]]; then
    prime_host || true; drop_caches
    t0=$(now); dd if="$DIR/big.bin" of=/dev/null bs=1M status=none || abnormal "$1: dd failed"; t=$(since "$t0")
  else
    drop_caches
    t0=$(now); (cd "$DIR" && "${FIO[@]}" --filename="new$3.bin" > /dev/null) || abnormal "$1: fio failed"; t=$(since "$t0")
  fi
  T[$1,$2,$3]+=" $t"
  log "  $2 $3: $t s"
  metric "warm-mount.$1.$2.$3.r$4" "$t"
}

declare -A T
res_begin warm-mount "A fresh mount process against a warm one and a spare: mount time, cold read, sequential write"
for ((r = 1; r <= ROUNDS; r++)); do
  for sys in "${SYSTEMS[@]}"; do
    for op in read write; do
      log "warm-mount: round $r, $sys, $op"
      setup "$sys" "$op" fresh || { abnormal "set-up of $sys failed"; continue; }
      T[$sys,mount,1]+=" $MT"; metric "warm-mount.$sys.mount.1.r$r" "$MT"
      measure "$sys" "$op" 1 "$r"
      measure "$sys" "$op" 2 "$r"
      teardown "$sys" "$op"
      setup "$sys" "$op" spare || { abnormal "set-up of $sys (a second mount) failed"; continue; }
      T[$sys,mount,3]+=" $MT"; metric "warm-mount.$sys.mount.3.r$r" "$MT"
      measure "$sys" "$op" 3 "$r"
      teardown "$sys" "$op"
    done
  done
done
pkill -x cowfs-idle || true

th "system" "mount, fresh (s)" "mount, next (s)" "cold 1 GiB read, fresh mount (s)" "again, same mount (s)" "next mount (s)" \
  "seq 1 GiB write, fresh mount (s)" "again, same mount (s)" "next mount (s)"
declare -A M
for sys in "${SYSTEMS[@]}"; do
  row=("${LABEL[$sys]}")
  for op in mount read write; do
    for k in 1 2 3; do
      [[ $op == mount && $k == 2 ]] && continue
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
  row=("cowfs / ${LABEL[$peer]}")
  for op in mount read write; do
    for k in 1 2 3; do
      [[ $op == mount && $k == 2 ]] && continue
      row+=("$(ratio "${M[cow,$op,$k]}" "${M[$peer,$op,$k]}")")
    done
  done
  tr_ "${row[@]}"
done
note "Medians of $ROUNDS rounds (systems alternating within each round). Reads: \`dd bs=1M\` of the ${BIG_MB} MiB file," \
  "the host's cache primed and the guest's dropped before each read, so every read is a cold read of the data." \
  "cowfs: *fresh* is a new mount process (idle spares ended first); *again* the same process" \
  "(it has run once: JIT-compiled, its memory touched); *next* a new \`cowfs mount\` after the umount, served by the spare" \
  "the first mount's process became (the default). For the peers *next* is simply a new mount." \
  "Writes: \`${FIO[*]}\`, new1.bin and new2.bin in one mount, new3.bin in the next, page cache dropped before each." \
  "Mount: wall time of the mount command (cowfs: \`java -cp cowfs.jar ... mount\`, the CLI's own JVM start included)."
