#!/usr/bin/env bash
# Workload 6: `git status` on a real repository in a fresh cowfs fork vs the host checkout vs
# kernel overlayfs and fuse-overlayfs over it (fresh upper).
source "$(dirname "$0")/lib.sh"
require_jar
res_begin git "git status in a fresh fork"

REPO_DIR=$BENCH_ROOT/repo
if [[ ! -f $BENCH_ROOT/.repo-done ]]; then
  log "making a git repository from a copy of $CI_SRC"
  rm -rf "$REPO_DIR"; cp -a "$CI_SRC" "$REPO_DIR"
  (cd "$REPO_DIR" && git init -q && git add -A && git -c user.name=bench -c user.email=bench@localhost commit -q -m import) \
    || { abnormal "(setup) git repo creation failed"; exit 1; }
  touch "$BENCH_ROOT/.repo-done"
fi
ensure_snapshot repo "$REPO_DIR"
NF=$(git -C "$REPO_DIR" ls-files | wc -l)
note "Repository: a copy of \`$CI_SRC\` committed to git ($NF tracked files, $(hb "$(app_bytes "$REPO_DIR")"))."

GS=(git status --porcelain)
SYSTEMS=(host ovl fovl cowview cowview2)
declare -A LABEL=([host]="host ext4 (the checkout itself)" [ovl]="kernel overlayfs (fresh upper)" [fovl]="fuse-overlayfs (fresh upper)"
                  [cowview]="**cowfs view (fresh fork)**" [cowview2]="cowfs view, libfuse2 adapter")
DIR=
setup() {
  DIR=
  case $1 in
    host) DIR=$REPO_DIR ;;
    ovl) mount_overlay "$REPO_DIR" "$TMPW/g-ovl" "$MNT/g-ovl" && DIR=$MNT/g-ovl ;;
    fovl) mount_fovl "$REPO_DIR" "$TMPW/g-fovl" "$MNT/g-fovl" && DIR=$MNT/g-fovl ;;
    cowview) v=$(uname_ gv); cw fork repo --name "$v" >/dev/null && mount_cowfs "$v" "$MNT/g-cow" && DIR=$MNT/g-cow ;;
    cowview2) v=$(uname_ gv); cw fork repo --name "$v" >/dev/null && mount_cowfs "$v" "$MNT/g-cow2" --fuse-api=libfuse2 && DIR=$MNT/g-cow2 ;;
  esac
  [[ -n $DIR ]]
}
teardown() {
  case $1 in
    ovl) umount_any "$MNT/g-ovl" ;; fovl) umount_any "$MNT/g-fovl" ;; cowview) umount_cowfs "$MNT/g-cow" ;;
    cowview2) umount_cowfs "$MNT/g-cow2" ;;
  esac
}
declare -A C1 W
for sys in "${SYSTEMS[@]}"; do
  log "git status: $sys"
  setup "$sys" || { abnormal "set-up of $sys failed"; continue; }
  drop_caches
  out=$(cd "$DIR" && timed t1 "${GS[@]}" 2>&1; echo "T=$t1")
  t1=$(sed -n 's/^T=//p' <<<"$out"); body=$(grep -v '^T=' <<<"$out")
  [[ -z $body ]] || abnormal "$sys: git status is not clean in a fresh copy: $(head -3 <<<"$body" | tr '\n' ' ')"
  ws=()
  for i in 1 2 3; do
    (cd "$DIR" && timed tw "${GS[@]}" >/dev/null 2>&1; echo "$tw") > "$TMPW/gs.t"; ws+=("$(cat "$TMPW/gs.t")")
  done
  C1[$sys]=$t1; W[$sys]=$(median "${ws[@]}")
  log "  first $t1 s, warm ${W[$sys]} s"
  metric "git.$sys.first" "$t1"; metric "git.$sys.warm" "${W[$sys]}"
  teardown "$sys"
done
th "where" "first git status, cold caches (s)" "git status, warm (s, median of 3)" "first vs kernel overlay" "warm vs kernel overlay" "warm vs host"
for sys in "${SYSTEMS[@]}"; do
  tr_ "${LABEL[$sys]}" "${C1[$sys]:--}" "${W[$sys]:--}" "$(ratio "${C1[$sys]:-}" "${C1[ovl]:-}")" "$(ratio "${W[$sys]:-}" "${W[ovl]:-}")" "$(ratio "${W[$sys]:-}" "${W[host]:-}")"
done
note "\`${GS[*]}\` run at the top of the work tree. 'first' runs right after the mount (fresh fork / fresh upper) and" \
     "\`drop_caches\`; in a copy, the first status re-reads files whose stat data (inode number, ctime) differ from the" \
     "index and refreshes the index. The repository was committed on the host, so the host's index is already fresh."
