#!/usr/bin/env bash
# Workload 13: space taken by random 4 KiB rewrites of a base file as they grow (a database, a VM image).
# fio random 4K writes (end_fsync) into the 1 GiB big.bin of the base, for several write volumes
# (GROWTH_SIZES; default 64M 256M 512M, with --quick a quarter and a half of the 64 MiB file), in a cowfs view
# vs kernel overlayfs and fuse-overlayfs (upper on the host disk). Space: the overlays' upper directory (they copy
# the whole file up at its first write); cowfs's store (du of the store directory) right after the unmount, and
# again after `cowfs gc` with the view still there (gc reclaims the sub-block deltas that later ones replaced).
# Issue 12's target: growth <= 2x the bytes written. With OLD_COWFS_JAR=JAR, system "cowold" runs the same in a view
# through that older build (its CLI and its mounts): before/after of a change in one run. Each cowfs build gets a
# store of its own, made by that build (work/rg-store-SYSTEM; a newer build's format may be one an older refuses).
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
res_begin random-growth "Random 4K rewrites of a base file: time and space, by write volume"

if [[ -n ${GROWTH_SIZES:-} ]]; then read -r -a SIZES <<< "$GROWTH_SIZES"
elif ((BIG_MB >= 1024)); then SIZES=(64M 256M 512M)
else SIZES=($((BIG_MB / 4))M $((BIG_MB / 2))M); fi
read -r -a SYSTEMS <<< "${SYSTEMS:-ovl fovl ${OLD_COWFS_JAR:+cowold} cowview}"
NEW_CMD=("${COWFS_CMD[@]}")
OLD_CMD=(java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED
         -cp "${OLD_COWFS_JAR:-}" io.cowfs.cli.Main)
FIO=(fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 --output-format=terse
     --name=w --rw=randwrite --bs=4k --size=${BIG_MB}M --filename=big.bin)

cow_system() { # cow_system SYS : COWFS_CMD and CW_STORE of a cowfs system
  COWFS_CMD=("${NEW_CMD[@]}"); [[ $1 == cowold ]] && COWFS_CMD=("${OLD_CMD[@]}")
  CW_STORE=$BENCH_ROOT/rg-store-$1
}
for sys in "${SYSTEMS[@]}"; do
  [[ $sys == cow* ]] || continue
  cow_system "$sys"; rm -rf "$CW_STORE"; ensure_snapshot big "$DATA/big" || exit 1
done
COWFS_CMD=("${NEW_CMD[@]}"); unset CW_STORE

READS=()
# cold_read FILE SYS [HOSTFILE...] : R[SYS] = GB/s of a cold sequential read of FILE (a fresh mount for cowfs: after
# gc, remounted). What the read will take from the host's disk (HOSTFILEs: the store's packs and index for cowfs, not
# FILE, which would fill the mount's block cache; else FILE) is read once first, as in 03-reads.sh, so that the VM's
# host has it cached for every system alike and "cold" means the guest's page cache (the overlays' upper file has
# just been written, which the host caches; cowfs's base packs were written minutes earlier). PRIME=0: whatever
# the host had cached.
cold_read() {
  if [[ ${PRIME:-1} == 1 ]]; then if (($# > 2)); then cat "${@:3}"; else cat "$1"; fi > /dev/null 2>&1; fi
  drop_caches
  if timed rd dd if="$1" of=/dev/null bs=1M 2>/dev/null; then R[$2]=$(calc "$BIG_MB * 1048576 / $rd / 1000000000" 2)
  else abnormal "$2: reading $1 back failed"; fi
  metric "growth.$2.$io.readgbs" "${R[$2]:-}"
}

th "written" "kernel overlayfs: time, upper dir" "fuse-overlayfs: time, upper dir" "cowfs old build: time, growth / after gc" \
   "**cowfs view: time**" "**cowfs store growth**" "**after gc**" "growth / written (before / after gc)"
for io in "${SIZES[@]}"; do
  bytes=$(numfmt --from=iec "$io")
  declare -A T=() G=() R=()
  for sys in "${SYSTEMS[@]}"; do
    log "random-growth: $io on $sys"
    case $sys in
      ovl) mount_overlay "$DATA/big" "$TMPW/rg-ovl" "$MNT/rg-ovl" || { abnormal "overlay mount failed"; continue; }; dir=$MNT/rg-ovl ;;
      fovl) mount_fovl "$DATA/big" "$TMPW/rg-fovl" "$MNT/rg-fovl" || { abnormal "fuse-overlayfs mount failed"; continue; }; dir=$MNT/rg-fovl ;;
      cowview|cowold) cow_system "$sys"
               view=$(uname_ rg); cw gc >/dev/null; cw fork big --name "$view" >/dev/null
               mount_cowfs "$view" "$MNT/rg-cow" || continue; dir=$MNT/rg-cow; s0=$(du_bytes "$CW_STORE") ;;
    esac
    sync; drop_caches
    if ! timed wall bash -c 'cd "$1" && shift && exec "$@"' _ "$dir" "${FIO[@]}" --io_size="$io" > /dev/null 2> "$TMPW/rg.err"; then
      abnormal "$sys: fio $io failed: $(head -c 300 "$TMPW/rg.err")"
    fi
    T[$sys]=$wall
    [[ $sys == ovl || $sys == fovl ]] && cold_read "$dir/big.bin" "$sys"
    case $sys in
      ovl) umount_any "$MNT/rg-ovl"; G[$sys]=$(du_bytes "$TMPW/rg-ovl/upper"); rm -rf "$TMPW/rg-ovl" ;;
      fovl) umount_any "$MNT/rg-fovl"; G[$sys]=$(du_bytes "$TMPW/rg-fovl/upper"); rm -rf "$TMPW/rg-fovl" ;;
      cowview|cowold) umount_cowfs "$MNT/rg-cow"; G[$sys]=$(( $(du_bytes "$CW_STORE") - s0 ))
               cw gc >/dev/null; G[${sys}gc]=$(( $(du_bytes "$CW_STORE") - s0 ))
               if mount_cowfs "$view" "$MNT/rg-cow"; then cold_read "$MNT/rg-cow/big.bin" "$sys" "$CW_STORE"/packs/* "$CW_STORE"/index/data.mdb; umount_cowfs "$MNT/rg-cow"; fi
               cw rm "$view" >/dev/null; cw gc >/dev/null; COWFS_CMD=("${NEW_CMD[@]}"); unset CW_STORE ;;
    esac
    log "  wall $wall s, space $(hb "${G[$sys]}")${G[${sys}gc]:+, after gc $(hb "${G[${sys}gc]}")}"
    metric "growth.$sys.$io.wall" "$wall"; metric "growth.$sys.$io.bytes" "${G[$sys]}"
  done
  metric "growth.cowview.$io.aftergc" "${G[cowviewgc]:-}"
  old=-; [[ -n ${T[cowold]:-} ]] && old="${T[cowold]} s, $(hb "${G[cowold]:-0}") / $(hb "${G[cowoldgc]:-0}")"
  tr_ "$io" "${T[ovl]:--} s, $(hb "${G[ovl]:-0}")" "${T[fovl]:--} s, $(hb "${G[fovl]:-0}")" "$old" "${T[cowview]:--} s" \
      "$(hb "${G[cowview]:-0}")" "$(hb "${G[cowviewgc]:-0}")" \
      "$(calc "${G[cowview]:-0} / $bytes" 2)x / $(calc "${G[cowviewgc]:-0} / $bytes" 2)x"
  READS+=("$io|${R[ovl]:--}|${R[fovl]:--}|${R[cowold]:--}|${R[cowview]:--}")
  unset T G R
done
echo; th "written, then a cold read of the file (GB/s)" "kernel overlayfs" "fuse-overlayfs" "cowfs old build" "**cowfs view**"
for r in "${READS[@]}"; do IFS='|' read -r -a c <<< "$r"; tr_ "${c[@]}"; done
note "fio: \`${FIO[*]} --io_size=SIZE\` in the mounted directory; times include the final fsync. The overlays copy" \
     "the whole ${BIG_MB} MiB file into the upper directory at the first write, so their space does not depend on the" \
     "volume written. cowfs stores each written 64 KiB block as a sub-block delta over its base chunk; a block" \
     "written again after the mount persisted it (every \`cowfs.dirtyLimit\`, 32 MiB, of unpersisted data) gets a" \
     "chained delta of the pages written since (format 5; before it, a new delta holding its earlier pages too);" \
     "every 8 links the chain is folded into one delta. What a new delta replaces is garbage until \`gc\`." \
     "Reads: \`dd bs=1M\` of the whole file after \`drop_caches\`, in the overlays right after the writes, in cowfs" \
     "through a fresh mount of the view after the unmount and gc (a chained block costs one chunk read per link)." \
     "Before each read, what it takes from the host's disk was read once (the overlays' file; cowfs's packs and index) so" \
     "that the VM's host caches it alike for all (PRIME=${PRIME:-1}; as 03-reads.sh)."
