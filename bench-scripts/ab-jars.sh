#!/usr/bin/env bash
# A/B of two cowfs builds on the same data in one run, for "no slower" checks of refactorings:
#   bench-scripts/ab-jars.sh OLD.jar NEW.jar [NEW_MOUNT_OPTS...]
# Each build: init a store, import the generated tree (100K files), fork, mount the view (NEW_MOUNT_OPTS,
# e.g. --fuse-api=libfuse2, go to the new build's mount only), find walk, cat of 10K files, a 256 MiB
# write, umount, snapshot, rm, gc, fsck, du. Prints one table of wall times (s) and the new/old ratio.
source "$(dirname "$0")/lib.sh"
OLD=$1; NEW=$2; shift 2
ensure_data
res_begin ab "A/B of two builds: $(basename "$OLD") vs $(basename "$NEW")"
declare -A T
run() {  # TAG JAR MOUNTOPTS...
  local tag=$1 jar=$2; shift 2
  local st=$TMPW/ab-$tag mp=$MNT/ab-$tag
  local c=(java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 --add-opens=java.base/java.nio=ALL-UNNAMED
           --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$jar" io.cowfs.cli.Main)
  rm -rf "$st"; mkdir -p "$mp"
  "${c[@]}" init --store "$st" >/dev/null
  drop_caches
  timed T[$tag,import] "${c[@]}" import "$DATA/tree" --name t --store "$st" >/dev/null
  timed T[$tag,fork] "${c[@]}" fork t --name v --store "$st" >/dev/null
  "${c[@]}" mount v "$mp" --store "$st" "$@" >/dev/null
  timed T[$tag,walk] find "$mp" -printf '%s %m\n' >/dev/null
  timed T[$tag,walk2] find "$mp" -printf '%s %m\n' >/dev/null
  timed T[$tag,cat] bash -c "cat $mp/d00[0-9]/* > /dev/null"
  timed T[$tag,cat2] bash -c "cat $mp/d00[0-9]/* > /dev/null"
  timed T[$tag,rm] rm -rf "$mp"/d01[0-9]
  timed T[$tag,write] dd if=/dev/urandom of="$mp/new.bin" bs=1M count=256 conv=fsync status=none
  timed T[$tag,umount] "${c[@]}" umount "$mp" --store "$st" >/dev/null
  timed T[$tag,snapshot] "${c[@]}" snapshot v --name s2 --store "$st" >/dev/null
  "${c[@]}" rm v --store "$st" >/dev/null
  timed T[$tag,gc] "${c[@]}" gc --store "$st" >/dev/null
  timed T[$tag,fsck] "${c[@]}" fsck --store "$st" >/dev/null
  timed T[$tag,du] "${c[@]}" du --store "$st" >/dev/null
  rm -rf "$st"
}
run old "$OLD"
run new "$NEW" "$@"
th "step" "old (s)" "new (s)" "new / old"
for k in import fork walk walk2 cat cat2 rm write umount snapshot gc fsck du; do
  tr_ "$k" "${T[old,$k]:--}" "${T[new,$k]:--}" "$(ratio "${T[new,$k]:-}" "${T[old,$k]:-}")"
  metric "ab.$k" "${T[old,$k]:-} ${T[new,$k]:-}"
done
note "Old: \`$OLD\`; new: \`$NEW\` (mount options: ${*:-none}). One run each, same data, same machine, in one run." \
     "walk: \`find -printf\` right after the mount, walk2: the same again; cat: the 10,000 files of d000-d009, cat2: again;" \
     "rm: \`rm -rf\` of d010-d019 (10,000 files);" \
     "write: 256 MiB with dd conv=fsync."
