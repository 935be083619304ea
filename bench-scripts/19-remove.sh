#!/usr/bin/env bash
# Workload 19: removing trees in a view (what a CI job cleaning a workspace, `make clean` or a
# package manager replacing node_modules does), against the host, kernel overlayfs and
# fuse-overlayfs over the same tree in the same run:
#   tree:   `rm -rf` of the generated tree (100 directories x 1,000 files) in a fresh fork / fresh
#           upper: every file comes from the lower layer (cowfs: the base snapshot), so each
#           removal is a whiteout;
#   onedir: N files created in one new directory (python, empty files), then `rm -rf` of it: every
#           file is the view's own. N=20,000 (fuse-overlayfs's time grows with the square of it:
#           663 s to create 100,000 and 626 s to remove them, 2026-12-05).
# OLD_JAR=path adds a second cowfs view served by that build (an A/B in the same run).
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
res_begin remove "removing trees in a view"
ensure_snapshot tree "$DATA/tree"
N=${ONEDIR_FILES:-20000}; [[ $QUICK == 1 ]] && N=2000
NT=$(count_files "$DATA/tree")

SYSTEMS=(host ovl fovl cowview)
[[ -n ${OLD_JAR:-} ]] && SYSTEMS+=(cowold)
declare -A LABEL=([host]="host ext4 (a copy)" [ovl]="kernel overlayfs (fresh upper)" [fovl]="fuse-overlayfs (fresh upper)"
                  [cowview]="**cowfs view (fresh fork)**" [cowold]="cowfs view, OLD_JAR")
make_files() { (cd "$1" && /usr/bin/python3 -c "
import sys
for i in range(int(sys.argv[1])): open('f%07d' % i, 'w').close()
" "$2"); }

declare -A TREE MK RM
for sys in "${SYSTEMS[@]}"; do
  log "remove: $sys"
  writable_dir "$sys" rm tree "$DATA/tree" || { abnormal "set-up of $sys failed"; continue; }
  sync; drop_caches
  timed TREE[$sys] rm -rf "$DIR"/d*
  left=$(find "$DIR" -mindepth 1 | wc -l)
  [[ $left == 0 ]] || abnormal "$sys: $left entries left after rm -rf of the tree"
  mkdir "$DIR/one"
  timed MK[$sys] make_files "$DIR/one" "$N"
  got=$(ls -f "$DIR/one" | wc -l)
  [[ $got == $((N + 2)) ]] || abnormal "$sys: $got entries listed in one/, expected $((N + 2))"
  timed RM[$sys] rm -rf "$DIR/one"
  [[ ! -e $DIR/one ]] || abnormal "$sys: one/ is still there after rm -rf"
  log "  tree ${TREE[$sys]} s, create ${MK[$sys]} s, remove ${RM[$sys]} s"
  metric "remove.$sys.tree" "${TREE[$sys]}"; metric "remove.$sys.create" "${MK[$sys]}"; metric "remove.$sys.onedir" "${RM[$sys]}"
  drop_writable_dir "$sys" rm
done
th "where" "rm -rf of the tree (s)" "vs kernel overlay" "vs fuse-overlayfs" "create $N files in one dir (s)" "rm -rf of them (s)" "vs kernel overlay" "vs fuse-overlayfs"
for sys in "${SYSTEMS[@]}"; do
  tr_ "${LABEL[$sys]}" "${TREE[$sys]:--}" "$(ratio "${TREE[$sys]:-}" "${TREE[ovl]:-}")" "$(ratio "${TREE[$sys]:-}" "${TREE[fovl]:-}")" \
      "${MK[$sys]:--}" "${RM[$sys]:--}" "$(ratio "${RM[$sys]:-}" "${RM[ovl]:-}")" "$(ratio "${RM[$sys]:-}" "${RM[fovl]:-}")"
done
note "tree: \`rm -rf\` of the generated tree's $NT files ($(ls "$DATA/tree" | wc -l) directories) right after the mount (fresh fork or upper) and" \
     "\`drop_caches\`; every file is in the lower layer (the base snapshot), so each removal leaves a whiteout." \
     "one dir: $N empty files created by one python process in a new directory of the same mount, then \`rm -rf\` of it."
