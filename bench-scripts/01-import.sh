#!/usr/bin/env bash
# Workload 1: import. cowfs import (MB/s, stored/logical) vs mksquashfs -comp zstd and cp -a,
# on the generated tree (files of 2 KB), the big file, and a real system tree.
# Starts a FRESH main store (the other workloads reuse it).
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
command -v mksquashfs >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq squashfs-tools >/dev/null

res_begin import "Import: cowfs import vs mksquashfs -comp zstd vs cp -a"

# fresh store
rm -rf "$STORE"; cw init >/dev/null
REAL_DIR=$BENCH_ROOT/realsrc   # one directory holding bind mounts of the real trees
fresh_dir "$REAL_DIR"
for s in "${REAL_SRC[@]}"; do
  d="$REAL_DIR/$(echo "$s" | tr / _ | sed 's/^_//')"; mkdir -p "$d"
  mount --bind "$s" "$d" && mount -o remount,bind,ro "$d" && track_mount bind "$d"
done

declare -A SRC=([tree]="$DATA/tree" [big]="$DATA/big" [real]="$REAL_DIR")
declare -A DESC=([tree]="generated: $((TREE_DIRS*TREE_FILES)) files of $FILE_BYTES B in $TREE_DIRS dirs"
                 [big]="one ${BIG_MB} MiB file of random bytes" [real]="real tree: ${REAL_SRC[*]}")

th "data" "files" "logical" "tool" "time (s)" "MB/s" "stored" "stored/logical" "time vs cowfs" "size vs cowfs"
for ds in tree big real; do
  src=${SRC[$ds]}
  log "import: $ds ($src): warming the page cache"
  warm_tree "$src"
  nfiles=$(count_files "$src")
  # cowfs
  before=$(du_bytes "$STORE")
  timed t_cowfs cw import "$src" --name "$ds" --json > "$TMPW/import-$ds.json" || abnormal "cowfs import $src --name $ds failed"
  sync
  j=$(cat "$TMPW/import-$ds.json")
  logical=$(json_field "$j" logicalBytes); stored=$(json_field "$j" newStoredBytes); inner=$(json_field "$j" seconds)
  disk=$(( $(du_bytes "$STORE") - before ))
  [[ -n $logical ]] || logical=$(app_bytes "$src")
  # mksquashfs
  rm -f "$SQFS/$ds.sqfs"
  timed t_sq mksquashfs "$src" "$SQFS/$ds.sqfs" -comp zstd -noappend -quiet -no-progress >/dev/null 2>&1 || abnormal "(peer) mksquashfs failed"
  sq_size=$(stat -c %s "$SQFS/$ds.sqfs")
  # cp -a
  fresh_dir "$TMPW/cpa"
  timed t_cp bash -c "cp -a '$src/.' '$TMPW/cpa/' && sync -f '$TMPW/cpa'"
  cp_size=$(du_bytes "$TMPW/cpa"); rm -rf "$TMPW/cpa"
  mbs() { awk -v b="$logical" -v t="$1" 'BEGIN{printf "%.0f", b/1e6/t}'; }
  tr_ "$ds" "$nfiles" "$(hb "$logical")" "**cowfs import**" "$t_cowfs (in-command $(calc "$inner" 2) s)" "$(mbs "$t_cowfs")" \
      "$(hb "$stored") (+$(hb "$disk") on disk)" "$(calc "$stored/$logical" 3) (disk $(calc "$disk/$logical" 3))" "1.00x" "1.00x"
  tr_ "$ds" "$nfiles" "$(hb "$logical")" "mksquashfs -comp zstd" "$t_sq" "$(mbs "$t_sq")" "$(hb "$sq_size")" \
      "$(calc "$sq_size/$logical" 3)" "$(ratio "$t_sq" "$t_cowfs")" "$(ratio "$sq_size" "$disk")"
  tr_ "$ds" "$nfiles" "$(hb "$logical")" "cp -a (+sync)" "$t_cp" "$(mbs "$t_cp")" "$(hb "$cp_size")" \
      "$(calc "$cp_size/$logical" 3)" "$(ratio "$t_cp" "$t_cowfs")" "$(ratio "$cp_size" "$disk")"
  metric "import.$ds.cowfs_s" "$t_cowfs"; metric "import.$ds.cowfs_inner_s" "$inner"
  metric "import.$ds.cowfs_MBps" "$(mbs "$t_cowfs")"
  metric "import.$ds.logical" "$logical"; metric "import.$ds.cowfs_stored" "$stored"; metric "import.$ds.cowfs_disk" "$disk"
  metric "import.$ds.files" "$nfiles"
  metric "import.$ds.squashfs_s" "$t_sq"; metric "import.$ds.squashfs_bytes" "$sq_size"
  metric "import.$ds.cpa_s" "$t_cp"; metric "import.$ds.cpa_bytes" "$cp_size"
done

# re-import of an unchanged tree: dedup means (almost) nothing new is stored
before=$(du_bytes "$STORE")
timed t_re cw import "$DATA/tree" --name tree-again --json > "$TMPW/import-again.json"
j=$(cat "$TMPW/import-again.json")
note "Re-import of the unchanged generated tree: $t_re s wall, new stored bytes $(hb "$(json_field "$j" newStoredBytes)"), store grew $(hb $(( $(du_bytes "$STORE") - before )))."
metric import.reimport_s "$t_re"

st=$(cw stats --json)
md "" "Store after import (\`cowfs stats\`):" "" '```' "$(cw stats)" '```' ""
note "Notes: \`time\` is wall time of the whole command (JVM start included); 'in-command' is the time cowfs reports itself." \
     "Sources were read once before timing (page cache warm) so all tools read from memory. 'stored' for cowfs is the compressed" \
     "chunk bytes it reports as new; '+on disk' is the growth of the store directory (packs + LMDB index). mksquashfs uses both cores." \
     "MB/s = logical bytes / wall time."

for d in "$REAL_DIR"/*; do umount_any "$d"; done
