#!/usr/bin/env bash
# Workload 3: reads. 1 GiB sequential read (dd bs=1M), a stat walk (find -printf of sizes and modes) and
# a cat of every file of the generated tree, cold (remount + drop_caches) and warm (same mount, again), through:
# host ext4, kernel overlayfs, fuse-overlayfs, squashfuse, the FUSE floor (an in-memory copy of the data served
# through cowfs's kernel adapter), a cowfs snapshot mount (ro), a cowfs view (fork, rw), and the same view through
# the libfuse 2 adapter (--fuse-api=libfuse2). SYSTEMS="..." picks a subset. With OLD_COWFS_JAR=JAR, system
# "cowold" is the snapshot mounted by that older build (before/after of a change, in the same run).
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot tree "$DATA/tree"
ensure_snapshot big "$DATA/big"
for ds in tree big; do
  [[ -f $SQFS/$ds.sqfs ]] || mksquashfs "$DATA/$ds" "$SQFS/$ds.sqfs" -comp zstd -noappend -quiet -no-progress >/dev/null
done
res_begin reads "Reads: sequential, stat walk, cat of all files; cold and warm"

VIEW_T=$(uname_ rv-tree); VIEW_B=$(uname_ rv-big)
cw fork tree --name "$VIEW_T" >/dev/null && cw fork big --name "$VIEW_B" >/dev/null || abnormal "cowfs fork for the reads workload failed"
VIEW_T2=$(uname_ rv2-tree); VIEW_B2=$(uname_ rv2-big)
cw fork tree --name "$VIEW_T2" >/dev/null && cw fork big --name "$VIEW_B2" >/dev/null || abnormal "cowfs fork for the reads workload failed"

read -r -a SYSTEMS <<< "${SYSTEMS:-host ovl fovl sqfuse floor cowsnap cowview cowview2}"
declare -A LABEL=([host]="host ext4" [ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [sqfuse]="squashfuse"
                  [floor]="FUSE floor (in memory, kernel adapter)"
                  [cowsnap]="**cowfs snapshot (ro)**" [cowview]="**cowfs view (fork, rw)**" [cowview2]="cowfs view, libfuse2 adapter"
                  [cowold]="cowfs snapshot, old build $(basename "${OLD_COWFS_JAR:-none}")")
# the older build (OLD_COWFS_JAR) on the same store: its own CLI and its own mount processes
cwold() { local c=$1; shift; java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
  -cp "$OLD_COWFS_JAR" io.cowfs.cli.Main "$c" --store="$STORE" "$@"; }
TREE_P=; BIG_P=
setup() {
  case $1 in
    host) TREE_P=$DATA/tree; BIG_P=$DATA/big/big.bin ;;
    ovl) mount_overlay "$DATA" "$TMPW/ovl-r" "$MNT/ovl-r"; TREE_P=$MNT/ovl-r/tree; BIG_P=$MNT/ovl-r/big/big.bin ;;
    fovl) mount_fovl "$DATA" "$TMPW/fovl-r" "$MNT/fovl-r"; TREE_P=$MNT/fovl-r/tree; BIG_P=$MNT/fovl-r/big/big.bin ;;
    sqfuse) mount_sqfuse "$SQFS/tree.sqfs" "$MNT/sq-tree"; mount_sqfuse "$SQFS/big.sqfs" "$MNT/sq-big"
            TREE_P=$MNT/sq-tree; BIG_P=$MNT/sq-big/big.bin ;;
    cowsnap) mount_cowfs tree "$MNT/cs-tree"; mount_cowfs big "$MNT/cs-big"; TREE_P=$MNT/cs-tree; BIG_P=$MNT/cs-big/big.bin ;;
    cowview) mount_cowfs "$VIEW_T" "$MNT/cv-tree"; mount_cowfs "$VIEW_B" "$MNT/cv-big"; TREE_P=$MNT/cv-tree; BIG_P=$MNT/cv-big/big.bin ;;
    cowview2) mount_cowfs "$VIEW_T2" "$MNT/cv2-tree" --fuse-api=libfuse2; mount_cowfs "$VIEW_B2" "$MNT/cv2-big" --fuse-api=libfuse2
              TREE_P=$MNT/cv2-tree; BIG_P=$MNT/cv2-big/big.bin ;;
    floor) mount_floor "$FLOOR_SRC" "$MNT/floor"; TREE_P=$MNT/floor/tree; BIG_P=$MNT/floor/big/big.bin ;;
    cowold) mkdir -p "$MNT/co-tree" "$MNT/co-big"
            cwold mount tree "$MNT/co-tree" >/dev/null && cwold mount big "$MNT/co-big" >/dev/null || return 1
            TREE_P=$MNT/co-tree; BIG_P=$MNT/co-big/big.bin ;;
  esac
}
teardown() {
  case $1 in
    host) ;;
    ovl) umount_any "$MNT/ovl-r" ;;
    fovl) umount_any "$MNT/fovl-r" ;;
    sqfuse) umount_any "$MNT/sq-tree"; umount_any "$MNT/sq-big" ;;
    cowsnap) umount_cowfs "$MNT/cs-tree"; umount_cowfs "$MNT/cs-big" ;;
    cowview) umount_cowfs "$MNT/cv-tree"; umount_cowfs "$MNT/cv-big" ;;
    cowview2) umount_cowfs "$MNT/cv2-tree"; umount_cowfs "$MNT/cv2-big" ;;
    floor) umount_any "$MNT/floor"; sleep 1 ;;
    cowold) for m in "$MNT/co-tree" "$MNT/co-big"; do is_mounted "$m" && cwold umount "$m" >/dev/null; done; true ;;
  esac
}
walk() { find "$TREE_P" -printf '%s %m %U %T@\n' > /dev/null; }
catall() { find "$TREE_P" -type f -print0 | xargs -0 cat > /dev/null; }
seqread() { dd if="$BIG_P" of=/dev/null bs=1M status=none; }
BIGSZ=$(stat -c %s "$DATA/big/big.bin")
gbs() { awk -v b="$BIGSZ" -v t="$1" 'BEGIN{ if (t=="" || t+0==0) print "-"; else printf "%.2f", b/1e9/t}'; }

# before each system every file any system reads is read once (lib.sh, prime_host)
prime_reads() { prime_host "$SQFS"/*.sqfs && warm_tree "$DATA/tree"; true; }
# the floor holds what it serves in memory: only the two directories read here, hard-linked (DATA also
# holds 10-vm-memory's 4 GiB image, which no Java array can hold)
FLOOR_SRC=$TMPW/floor-src
if [[ " ${SYSTEMS[*]} " == *" floor "* ]]; then
  rm -rf "$FLOOR_SRC"; mkdir -p "$FLOOR_SRC" && cp -al "$DATA/tree" "$DATA/big" "$FLOOR_SRC/" || abnormal "cannot link the floor's data"
fi
declare -A R
for sys in "${SYSTEMS[@]}"; do
  log "reads: $sys: priming the host's cache"; prime_reads
  for test in seq walk cat; do
    log "reads: $sys $test cold"
    teardown "$sys"; drop_caches
    if ! setup "$sys"; then abnormal "set-up of $sys failed"; continue; fi
    case $test in
      seq) fn=seqread ;; walk) fn=walk ;; cat) fn=catall ;;
    esac
    # a failed command has no time: its cell stays '-' and no metric is made of it
    timed c $fn || { abnormal "$sys: $test failed (cold)"; c=; }
    timed w $fn || { abnormal "$sys: $test failed (warm)"; w=; }
    R[$sys,$test,cold]=$c; R[$sys,$test,warm]=$w
    log "  cold $c s, warm $w s"
    if [[ $test == seq && $sys != host ]]; then
      cmp -s "$BIG_P" "$DATA/big/big.bin" || abnormal "$sys: $BIG_P differs from the source file (wrong data)"
    fi
    if [[ $test == cat && $sys == cow* ]]; then
      diff -r "$TREE_P/d000" "$DATA/tree/d000" >/dev/null || abnormal "$sys: $TREE_P/d000 differs from the source (wrong data)"
      n1=$(find "$TREE_P" | wc -l); n2=$(find "$DATA/tree" | wc -l)
      [[ $n1 == "$n2" ]] || abnormal "$sys: $n1 entries under the mount, $n2 in the source"
    fi
  done
  teardown "$sys"
done

hdr=("measure"); for sys in "${SYSTEMS[@]}"; do hdr+=("${LABEL[$sys]}"); done
th "${hdr[@]}"
for test in walk cat seq; do
  for temp in cold warm; do
    case $test in
      walk) label="stat walk of $((TREE_DIRS*TREE_FILES)) files, $temp (s)";;
      cat) label="cat of all files, $temp (s)";;
      seq) label="${BIG_MB} MiB sequential read, $temp (GB/s)";;
    esac
    row=("$label")
    for sys in "${SYSTEMS[@]}"; do
      v=${R[$sys,$test,$temp]:-}
      [[ $test == seq ]] && row+=("$(gbs "$v")") || row+=("${v:--}")
      metric "reads.$sys.$test.$temp" "$v"
    done
    tr_ "${row[@]}"
  done
done
md "" "Ratios (cowfs time / peer time, lower is better; for sequential reads the same, so 2.00x = half the throughput):" ""
th "measure" "snap / overlayfs" "snap / floor" "snap / fuse-overlayfs" "view / overlayfs" "view / floor" "view / fuse-overlayfs" "view / view via libfuse2" "snap / old build"
for test in walk cat seq; do
  for temp in cold warm; do
    s=${R[cowsnap,$test,$temp]:-}; vw=${R[cowview,$test,$temp]:-}
    tr_ "$test $temp" "$(ratio "$s" "${R[ovl,$test,$temp]:-}")" "$(ratio "$s" "${R[floor,$test,$temp]:-}")" \
        "$(ratio "$s" "${R[fovl,$test,$temp]:-}")" "$(ratio "$vw" "${R[ovl,$test,$temp]:-}")" "$(ratio "$vw" "${R[floor,$test,$temp]:-}")" \
        "$(ratio "$vw" "${R[fovl,$test,$temp]:-}")" "$(ratio "$vw" "${R[cowview2,$test,$temp]:-}")" "$(ratio "$s" "${R[cowold,$test,$temp]:-}")"
  done
done
note "Cold = unmount, \`sync; echo 3 > /proc/sys/vm/drop_caches\`, mount again, then the command; warm = the same command again" \
     "right after on the same mount. stat walk: \`find T -printf '%s %m %U %T@\\n'\`; cat: \`find T -type f -print0 | xargs -0 cat\`;" \
     "sequential: \`dd if=F of=/dev/null bs=1M\`. overlays have the data directory as their only lower layer and an empty upper;" \
     "squashfuse mounts the \`mksquashfs -comp zstd\` images of the import workload. The FUSE floor is the same data held" \
     "in memory (io.cowfs.fusefs.floor.MemoryFs) and served through cowfs's kernel adapter, measured in this run." \
     "Host cache primed before each system: ${PRIME:-1} (1: every file any system reads was read once first, so the VM's host" \
     "caches all of them alike and cold means the guest's page cache; 0: whatever the host had cached)."
cw rm "$VIEW_T" "$VIEW_B" "$VIEW_T2" "$VIEW_B2" >/dev/null 2>&1; true
