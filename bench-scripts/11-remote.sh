#!/usr/bin/env bash
# Workload 11: remotes (docs/REMOTE.md). A local S3 server (scripts/s3-local.sh: s3proxy on
# 127.0.0.1, data on the same disk) and a source tree (the Linux kernel source from Debian's
# linux-source package, committed to git; --quick or without it: $CI_SRC):
#   push of the whole tree; a second push after 10 files changed (bytes uploaded);
#   full pull into a fresh store; lazy pull, then in a fresh fork of it, freshly mounted with
#   cold caches: time to first byte, the first `git status`, a cat of the whole tree, and the
#   requests the lazy reader made for it;
#   restic (Debian's package) backing up and restoring the same tree to the same server, as the
#   nearest peer that moves trees through S3.
source "$(dirname "$0")/lib.sh"
require_jar
res_begin remote "push, pull and lazy pull through a local S3 server"

S3DIR=$BENCH_ROOT/s3
SRC=$BENCH_ROOT/linux
if [[ $QUICK == 1 ]]; then
  SRC=$BENCH_ROOT/remote-src
  if [[ ! -d $SRC/.git ]]; then
    rm -rf "$SRC"; cp -a "$CI_SRC" "$SRC"
    (cd "$SRC" && git init -q && git add -f -A . && git -c user.name=bench -c user.email=bench@localhost commit -q -m import)
  fi
elif [[ ! -f $BENCH_ROOT/.linux-done ]]; then
  tarball=$(ls /usr/src/linux-source-*.tar.xz 2>/dev/null | head -1)
  [[ -n $tarball ]] || { log "installing Debian's linux-source"; apt-get install -y -q linux-source >/dev/null; tarball=$(ls /usr/src/linux-source-*.tar.xz | head -1); }
  log "unpacking $tarball and committing it to git"
  rm -rf "$SRC"; mkdir -p "$SRC"
  tar -xJf "$tarball" -C "$SRC" --strip-components=1
  (cd "$SRC" && git init -q && git add -f -A . && git -c user.name=bench -c user.email=bench@localhost commit -q -m import) \
    || { abnormal "(setup) git commit of the tree failed"; exit 1; }
  touch "$BENCH_ROOT/.linux-done"
fi
NF=$(git -C "$SRC" ls-files | wc -l)
TREE_BYTES=$(app_bytes "$SRC")
note "Tree: \`$SRC\` ($NF files in git, $(hb "$TREE_BYTES") with .git). Server: s3proxy 4.1.0 (scripts/s3-local.sh) on 127.0.0.1, its data on the same disk as the stores."

bash "$REPO/scripts/s3-local.sh" stop "$S3DIR" >/dev/null 2>&1
rm -rf "$S3DIR"
eval "$(bash "$REPO/scripts/s3-local.sh" start "$S3DIR")" || { abnormal "s3-local.sh start failed"; exit 1; }
trap 'unmount_all; bash "$REPO/scripts/s3-local.sh" stop "$S3DIR" >/dev/null 2>&1' EXIT
PREFIX=bench-$$
RA=$TMPW/remote-a; RB=$TMPW/remote-b; RC=$TMPW/remote-c
rm -rf "$RA" "$RB" "$RC"
for s in "$RA" "$RB" "$RC"; do
  CW_STORE=$s cw init >/dev/null && CW_STORE=$s cw remote add origin "s3://cowfs/$PREFIX" >/dev/null || { abnormal "store set-up failed"; exit 1; }
done
served_bytes() { du -s --block-size=1 "$S3DIR/data" | cut -f1; }

log "import into store A"
CW_STORE=$RA cw import "$SRC" --name v1 >/dev/null || { abnormal "import failed"; exit 1; }

log "push v1"
t0=$(now); j=$(CW_STORE=$RA cw push v1 --json); tpush=$(since "$t0")
up1=$(json_field "$j" uploadedBytes); obj1=$(json_field "$j" objects); req1=$(json_field "$j" requests)
log "  $(hb "$up1") in $tpush s ($obj1 objects, $req1 requests)"
metric remote.push.seconds "$tpush"; metric remote.push.bytes "$up1"

log "second push: 10 files changed"
(cd "$SRC" && git ls-files | grep -E "\.c$" | head -10 | while read -r f; do echo "/* changed */" >> "$f"; done)
CW_STORE=$RA cw import "$SRC" --name v2 >/dev/null
t0=$(now); j=$(CW_STORE=$RA cw push v2 --json); tpush2=$(since "$t0")
up2=$(json_field "$j" uploadedBytes); req2=$(json_field "$j" requests)
(cd "$SRC" && git checkout -q -- . )
log "  $(hb "$up2") in $tpush2 s ($req2 requests)"
metric remote.push2.bytes "$up2"

log "full pull into store B"
drop_caches
t0=$(now); j=$(CW_STORE=$RB cw pull v1 --json); tpull=$(since "$t0")
down=$(json_field "$j" downloadedBytes); reqp=$(json_field "$j" requests)
log "  $(hb "$down") in $tpull s ($reqp requests)"
metric remote.pull.seconds "$tpull"

log "lazy pull into store C, fork, mount cold"
t0=$(now); j=$(CW_STORE=$RC cw pull v1 --lazy --json); tlazy=$(since "$t0")
lazyb=$(json_field "$j" downloadedBytes); left=$(json_field "$j" remoteChunks); reql=$(json_field "$j" requests)
CW_STORE=$RC cw fork v1 --name work >/dev/null
first=$(cd "$SRC" && git ls-files | sed -n "$(( NF / 2 ))p")
# the same in a fork of the fully pulled (local) snapshot, for comparison
CW_STORE=$RB cw fork v1 --name work >/dev/null
drop_caches
CW_STORE=$RB mount_cowfs work "$MNT/full" || abnormal "mount of the local fork failed"
t1=$(now); head -c 1 "$MNT/full/$first" >/dev/null; lttfb=$(since "$t1")
t1=$(now); (cd "$MNT/full" && git status --porcelain >/dev/null 2>&1); lgs=$(since "$t1")
CW_STORE=$RB umount_cowfs "$MNT/full"
drop_caches
t0=$(now)
CW_STORE=$RC mount_cowfs work "$MNT/lazy" || { abnormal "mount of the lazy fork failed"; exit 1; }
t1=$(now); head -c 1 "$MNT/lazy/$first" >/dev/null; ttfb=$(since "$t1"); tmount_ttfb=$(since "$t0")
t1=$(now); gs=$(cd "$MNT/lazy" && git status --porcelain 2>&1 | wc -l); tgs=$(since "$t1")
[[ $gs == 0 ]] || abnormal "git status in the lazy fork is not clean ($gs lines)"
t1=$(now); gs2=$(cd "$MNT/lazy" && git status --porcelain 2>&1 | wc -l); tgs2=$(since "$t1")
t1=$(now); (cd "$MNT/lazy" && find . -path ./.git -prune -o -type f -print0 | xargs -0 cat > /dev/null); tcat=$(since "$t1")
CW_STORE=$RC umount_cowfs "$MNT/lazy"
logf=$RC/run/work.log
reqs=$(grep -o 'in [0-9]* requests' "$logf" | tail -1 | grep -o '[0-9]*')
fbytes=$(grep -o 'fetched [0-9]* bytes' "$logf" | tail -1 | grep -o '[0-9]*')
log "  lazy pull $tlazy s ($(hb "$lazyb")); first byte $ttfb s; git status $tgs s (then $tgs2 s); cat $tcat s, $reqs requests, $(hb "${fbytes:-0}")"
metric remote.lazy.ttfb "$ttfb"; metric remote.lazy.gitstatus "$tgs"; metric remote.lazy.cat "$tcat"; metric remote.lazy.requests "${reqs:-0}"

# the same cat with no read-ahead window (one request per missed record): what pack-sized range reads save
RD=$TMPW/remote-d; rm -rf "$RD"
CW_STORE=$RD cw init >/dev/null && CW_STORE=$RD cw remote add origin "s3://cowfs/$PREFIX" >/dev/null
CW_STORE=$RD cw pull v1 --lazy >/dev/null && CW_STORE=$RD cw fork v1 --name work >/dev/null
drop_caches
COWFS_MOUNT_JAVA_OPTS="-Dcowfs.remote.fetchWindow=0" CW_STORE=$RD mount_cowfs work "$MNT/lazy0" || abnormal "mount (window 0) failed"
t1=$(now); (cd "$MNT/lazy0" && find . -path ./.git -prune -o -type f -print0 | xargs -0 cat > /dev/null); tcat0=$(since "$t1")
CW_STORE=$RD umount_cowfs "$MNT/lazy0"
reqs0=$(grep -o 'in [0-9]* requests' "$RD/run/work.log" | tail -1 | grep -o '[0-9]*')
log "  window 0: cat $tcat0 s, $reqs0 requests"
metric remote.lazy0.cat "$tcat0"; metric remote.lazy0.requests "${reqs0:-0}"

# restic, the nearest peer: backup to and restore from the same server
rb=-; rr=-; rup=-
if command -v restic >/dev/null; then
  export RESTIC_PASSWORD=bench RESTIC_REPOSITORY="s3:$COWFS_S3_ENDPOINT/cowfs/restic-$$"
  restic init >/dev/null 2>&1
  log "restic backup"
  b0=$(served_bytes)
  t0=$(now); restic backup -q "$SRC" >/dev/null 2>&1 && rb=$(since "$t0")
  rup=$(( $(served_bytes) - b0 ))
  log "restic restore"
  rm -rf "$TMPW/restic-out"; drop_caches
  t0=$(now); restic restore -q latest --target "$TMPW/restic-out" >/dev/null 2>&1 && rr=$(since "$t0")
  rm -rf "$TMPW/restic-out"
  log "  restic backup $rb s, restore $rr s"
else
  note "restic is not installed (apt-get install restic): no peer row."
fi

mbs() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s=="-"||s==0) print "-"; else printf "%.0f", b/1048576/s }'; }
th "operation" "time (s)" "bytes moved" "MB/s of the tree" "requests"
tr_ "cowfs push (whole tree)" "$tpush" "$(hb "$up1")" "$(mbs "$TREE_BYTES" "$tpush")" "$req1"
tr_ "cowfs push after 10 files changed" "$tpush2" "$(hb "$up2")" "-" "$req2"
tr_ "cowfs pull (full, fresh store)" "$tpull" "$(hb "$down")" "$(mbs "$TREE_BYTES" "$tpull")" "$reqp"
tr_ "cowfs pull --lazy" "$tlazy" "$(hb "$lazyb")" "-" "$reql"
tr_ "restic backup (same tree, same server)" "$rb" "$( [[ $rup == - ]] && echo - || hb "$rup")" "$(mbs "$TREE_BYTES" "$rb")" "-"
tr_ "restic restore" "$rr" "-" "$(mbs "$TREE_BYTES" "$rr")" "-"
note "In a fresh fork of the lazily pulled snapshot ($left chunks left on the server), mounted after \`drop_caches\`:"
th "measure" "value" "in a fork of the fully pulled snapshot (all local), same conditions"
tr_ "time to first byte of a source file (s)" "$ttfb" "$lttfb"
tr_ "mount + first byte (s)" "$tmount_ttfb" "-"
tr_ "first \`git status\` (s)" "$tgs" "$lgs"
tr_ "second \`git status\` (s)" "$tgs2"
tr_ "cat of every file outside .git (s)" "$tcat"
tr_ "requests the lazy reader made in all" "${reqs:-?}"
tr_ "bytes it fetched" "$(hb "${fbytes:-0}")"
tr_ "requests per second during the cat" "$(awk -v r="${reqs:-0}" -v s="$tcat" 'BEGIN{printf "%.0f", r/s}')"
tr_ "the same cat, no fetch window (\`-Dcowfs.remote.fetchWindow=0\`): seconds" "$tcat0"
tr_ "... requests" "${reqs0:-?}"
tr_ "... requests per second" "$(awk -v r="${reqs0:-0}" -v s="$tcat0" 'BEGIN{printf "%.0f", r/s}')"
note "Bytes moved: pack objects and indexes uploaded (push), records downloaded (pull). MB/s: the tree's apparent size" \
     "over the command's wall time (JVM start included)."
