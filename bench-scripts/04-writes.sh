#!/usr/bin/env bash
# Workload 4: writes in a view. fio sequential write of a new file, random 4K writes into a new file,
# sequential and random-4K rewrites of an existing file of the base (copy-on-write), all with --end_fsync=1,
# in a cowfs view vs a host ext4 directory vs kernel overlayfs and fuse-overlayfs (upper on ext4); and
# "restore": cp of a file the store holds already (a build cache restored into a fresh worktree) + sync;
# "cp": cp of a file of the base to a new name beside it + sync (a reflink-like clone in cowfs, a data copy elsewhere);
# "cptree": cp -r of 2,000 small host files (two directories of the generated tree) + sync (a build output or a
# layer copied in: per-file costs, not bytes);
# "statw": 5,000 rounds of open + fstat + close of a 1 GiB file just written there (fio seq, not timed): with a
# writeback cache the kernel drops st_blocks at every close, so each fstat asks the filesystem.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot big "$DATA/big"
res_begin writes "Writes: fio in a cowfs view vs host ext4 vs overlayfs upper"

SIZE=${BIG_MB}M
FIO=(fio --ioengine=psync --fallocate=none --end_fsync=1 --refill_buffers=1 --randrepeat=0 --output-format=json --name=w)
declare -A TESTS=(
  [seq]="--rw=write --bs=1M --size=$SIZE --filename=new.bin"
  [rand]="--rw=randwrite --bs=4k --size=$SIZE --io_size=$FIO_RAND_IO --filename=new.bin"
  [reseq]="--rw=write --bs=1M --size=$SIZE --filename=big.bin"
  [rerand]="--rw=randwrite --bs=4k --size=$SIZE --io_size=$FIO_RAND_IO --filename=big.bin"
)
read -r -a TORDER <<< "${TESTS_ONLY:-seq rand reseq rerand restore cp cptree statw}"   # e.g. TESTS_ONLY=rerand
declare -A TLABEL=([seq]="sequential write, new ${BIG_MB} MiB file, bs=1M"
                   [rand]="random 4K writes ($FIO_RAND_IO) into a new ${BIG_MB} MiB file"
                   [reseq]="sequential rewrite of an existing ${BIG_MB} MiB file (from the base)"
                   [rerand]="random 4K rewrites ($FIO_RAND_IO) of an existing ${BIG_MB} MiB file (from the base)"
                   [restore]="cp of a ${BIG_MB} MiB host file the store holds already, then sync"
                   [cp]="cp of the ${BIG_MB} MiB base file to a new name beside it, then sync"
                   [cptree]="cp -r of 2,000 small host files (d000, d001 of the tree) into it, then sync"
                   [statw]="5,000 x open + fstat + close of a ${BIG_MB} MiB file written there")
read -r -a SYSTEMS <<< "${SYSTEMS:-host ovl fovl cowview cowview2}"
declare -A LABEL=([host]="host ext4" [ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [cowview]="**cowfs view**"
                  [cowview2]="cowfs view, libfuse2 adapter" [cowold]="cowfs, OLD_JAR")

DIR=; CUR_VIEW=
# DIR is set only once the system is ready: a failed mount must not leave fio writing into the bare
# mountpoint directory (and the next mount refusing it as not empty)
setup() {
  DIR=
  case $1 in
    host) fresh_dir "$TMPW/wr-host" && cp "$DATA/big/big.bin" "$TMPW/wr-host/" && DIR=$TMPW/wr-host ;;
    ovl) mount_overlay "$DATA/big" "$TMPW/wr-ovl" "$MNT/wr-ovl" && DIR=$MNT/wr-ovl ;;
    fovl) mount_fovl "$DATA/big" "$TMPW/wr-fovl" "$MNT/wr-fovl" && DIR=$MNT/wr-fovl ;;
    cowview) CUR_VIEW=$(uname_ wv); cw fork big --name "$CUR_VIEW" >/dev/null && mount_cowfs "$CUR_VIEW" "$MNT/wr-cow" \
               && DIR=$MNT/wr-cow ;;
    cowview2) CUR_VIEW=$(uname_ wv); cw fork big --name "$CUR_VIEW" >/dev/null && mount_cowfs "$CUR_VIEW" "$MNT/wr-cow" --fuse-api=libfuse2 \
                && DIR=$MNT/wr-cow ;;
    cowold) CUR_VIEW=$(uname_ wo); cw fork big --name "$CUR_VIEW" >/dev/null && mkdir -p "$MNT/wr-old" \
              && "${OLD_CMD[@]}" mount "$CUR_VIEW" "$MNT/wr-old" --store="$STORE" >/dev/null \
              && track_mount "cowfs:$STORE" "$MNT/wr-old" && DIR=$MNT/wr-old ;;
    *) echo "04-writes.sh: unknown system '$1'" >&2 ;;
  esac
  [[ -n $DIR ]]
}
UMOUNT_T=-
teardown() {
  UMOUNT_T=-
  case $1 in
    host) rm -rf "$TMPW/wr-host" ;;
    ovl) umount_any "$MNT/wr-ovl"; rm -rf "$TMPW/wr-ovl" ;;
    fovl) umount_any "$MNT/wr-fovl"; rm -rf "$TMPW/wr-fovl" ;;
    # the view goes (its chunks stay until the gc at the end: the growth below is measured first); left in the
    # bench store, every run's views (1-2 GiB each) made its index and packs grow run after run
    cowview|cowview2) timed UMOUNT_T umount_cowfs "$MNT/wr-cow"; cw rm "$CUR_VIEW" >/dev/null || abnormal "rm $CUR_VIEW failed" ;;
    cowold) timed UMOUNT_T umount_cowfs "$MNT/wr-old"; cw rm "$CUR_VIEW" >/dev/null || abnormal "rm $CUR_VIEW failed" ;;
  esac
}

declare -A WALL BW IOPS GROW UMT
for t in "${TORDER[@]}"; do
  for sys in "${SYSTEMS[@]}"; do
    log "writes: $t on $sys"
    if ! setup "$sys"; then
      abnormal "set-up of $sys failed: no sample"
      teardown "$sys" 2>/dev/null; continue
    fi
    sync; drop_caches
    s0=$(du_bytes "$STORE")
    # shellcheck disable=SC2086
    if [[ $t == restore ]]; then
      cmd=(sh -c 'cp "$0" restored.bin && sync -f restored.bin' "$DATA/big/big.bin")
    elif [[ $t == cp ]]; then
      cmd=(sh -c 'cp big.bin copy.bin && sync -f copy.bin')
    elif [[ $t == statw ]]; then
      # shellcheck disable=SC2086
      (cd "$DIR" && "${FIO[@]}" ${TESTS[seq]} >/dev/null) || abnormal "$sys: fio for statw failed"
      cmd=(/usr/bin/python3 -c 'import os
for _ in range(5000):
    fd = os.open("new.bin", os.O_RDONLY); os.fstat(fd); os.close(fd)')
    elif [[ $t == cptree ]]; then
      cmd=(sh -c 'mkdir copied && cp -r "$0/d000" "$0/d001" copied/ && sync -f copied' "$DATA/tree")
    else
      # shellcheck disable=SC2206
      cmd=("${FIO[@]}" ${TESTS[$t]})
    fi
    if ! timed wall bash -c 'cd "$1" && shift && exec "$@"' _ "$DIR" "${cmd[@]}" > "$TMPW/fio.json" 2> "$TMPW/fio.err"; then
      abnormal "$sys: fio $t failed: $(head -c 300 "$TMPW/fio.err")"
      teardown "$sys"; continue
    fi
    read -r bw iops < <(/usr/bin/python3 -c "import json,sys; j=json.load(open(sys.argv[1])); w=j['jobs'][0]['write']; print(w['bw'], round(w['iops']))" "$TMPW/fio.json" 2>/dev/null || echo "- -")
    teardown "$sys"
    WALL[$sys,$t]=$wall; BW[$sys,$t]=$bw; IOPS[$sys,$t]=$iops; UMT[$sys,$t]=$UMOUNT_T
    [[ $sys == cowview ]] && GROW[$t]=$(( $(du_bytes "$STORE") - s0 ))
    log "  wall $wall s, fio bw $bw KiB/s, iops $iops${UMOUNT_T:+, umount $UMOUNT_T s}"
    metric "writes.$sys.$t.wall" "$wall"; metric "writes.$sys.$t.bwKiBps" "$bw"; metric "writes.$sys.$t.iops" "$iops"
  done
done

cw gc >/dev/null || abnormal "gc after the writes failed"

hdr=("test"); for sys in "${SYSTEMS[@]}"; do hdr+=("${LABEL[$sys]}"); done
th "${hdr[@]}" "cowfs / host" "cowfs / overlayfs" "cowfs / fuse-overlayfs" "cowfs store growth" "cowfs umount after (s)"
for t in "${TORDER[@]}"; do
  row=("${TLABEL[$t]}")
  for sys in "${SYSTEMS[@]}"; do
    if [[ $t == restore || $t == cp || $t == cptree || $t == statw ]]; then
      row+=("${WALL[$sys,$t]:--} s")
    elif [[ $t == seq || $t == reseq ]]; then
      row+=("${WALL[$sys,$t]:--} s ($(awk -v b="${BW[$sys,$t]:-0}" 'BEGIN{printf "%.0f", b/1024}') MiB/s)")
    else
      row+=("${WALL[$sys,$t]:--} s (${IOPS[$sys,$t]:--} IOPS)")
    fi
  done
  c=${WALL[cowview,$t]:-}
  row+=("$(ratio "$c" "${WALL[host,$t]:-}")" "$(ratio "$c" "${WALL[ovl,$t]:-}")" "$(ratio "$c" "${WALL[fovl,$t]:-}")" "$(hb "${GROW[$t]:-0}")" "${UMT[cowview,$t]:--}")
  tr_ "${row[@]}"
  metric "writes.cowview.$t.storegrowth" "${GROW[$t]:-}"
done
note "Times are the wall time of the whole fio run, fsync at the end included (\`${FIO[*]} <test options>\`, options:" \
     "seq: \`${TESTS[seq]}\`; rand: \`${TESTS[rand]}\`; rewrites use the same options on big.bin, which comes from the" \
     "lower layer / base snapshot: overlays copy the whole file up on open, cowfs copies on write per block)." \
     "In brackets: fio's own bandwidth or IOPS. Ratios are wall-time ratios (lower is better for cowfs)." \
     "Each run starts from a fresh state (fresh fork / fresh upper / fresh host copy) and cold caches. 'umount after' is" \
     "\`cowfs umount\`, which waits until the mount process has persisted and closed everything (not included in the time)."
