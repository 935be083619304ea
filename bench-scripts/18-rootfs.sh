#!/usr/bin/env bash
# A root filesystem built in place: debootstrap --variant=minbase bookworm into an empty directory of each system
# (a container engine's layer, a chroot, a podman --rootfs), then `chroot DIR dpkg -V` (every installed file's
# md5sum against its package's) and `chroot DIR sudo -n -u nobody true`-style checks are left to the tests
# (SecurityIT, ContainerIT). The packages come from a cache filled once (debootstrap --download-only), so the
# network is out of the timing; dpkg's unpack and configure (fsync after every file, renames, hard links,
# mknod, chown, setcap) is what is timed. ROUNDS (default 2) rounds, systems alternating. Space: the host
# directory, the overlays' upper directory, the growth of the cowfs store after `cowfs umount`.
# cowfs mounts the view --allow-other --suid --dev (debootstrap refuses a nodev target; dpkg's sandbox runs
# as _apt), fuse-overlayfs likewise (-o allow_other,suid,dev; it too mounts nodev unless told). Needs Debian's archive (COWFS_DEBIAN_MIRROR, default http://deb.debian.org/debian) once.
source "$(dirname "$0")/lib.sh"
require_jar
command -v debootstrap >/dev/null || { echo "18-rootfs: apt-get install -y debootstrap" >&2; exit 1; }
ROUNDS=${ROUNDS:-2}
MIRROR=${COWFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}
read -r -a SYSTEMS <<< "${SYSTEMS:-host ovl fovl cowview}"
CACHE=$BENCH_ROOT/debootstrap-cache
CW_STORE=$BENCH_ROOT/rootfs-store
res_begin rootfs "A root filesystem built in place: debootstrap --variant=minbase bookworm"

if [[ ! -f $CACHE/.filled ]]; then
  log "rootfs: filling the package cache (network)"
  fresh_dir "$TMPW/rf-dl"; mkdir -p "$CACHE"
  debootstrap --variant=minbase --download-only --cache-dir="$CACHE" bookworm "$TMPW/rf-dl" "$MIRROR" > "$TMPW/rf.log" 2>&1 \
    || { tail -5 "$TMPW/rf.log" >&2; echo "18-rootfs: debootstrap --download-only failed" >&2; exit 1; }
  touch "$CACHE/.filled"; rm -rf "$TMPW/rf-dl"
fi
rm -rf "$CW_STORE"; cw init >/dev/null
mkdir -p "$TMPW/rf-empty"; cw import "$TMPW/rf-empty" --name empty >/dev/null

declare -A T=() S=()
for ((r = 1; r <= ROUNDS; r++)); do
  for sys in "${SYSTEMS[@]}"; do
    dir=$MNT/rf-$sys
    case $sys in
      host) fresh_dir "$TMPW/rf-host"; dir=$TMPW/rf-host ;;
      ovl) mount_overlay "$TMPW/rf-empty" "$TMPW/rf-ovl" "$dir" || { abnormal "overlay mount failed"; continue; } ;;
      fovl) fresh_dir "$TMPW/rf-fovl"; mkdir -p "$TMPW/rf-fovl/upper" "$TMPW/rf-fovl/work" "$dir" # suid,dev: as cowfs
            fuse-overlayfs -o "lowerdir=$TMPW/rf-empty,upperdir=$TMPW/rf-fovl/upper,workdir=$TMPW/rf-fovl/work,allow_other,suid,dev" \
              "$dir" && track_mount fuse "$dir" || { abnormal "fuse-overlayfs mount failed"; continue; } ;;
      cowview) view=$(uname_ rf); cw fork empty --name "$view" >/dev/null; s0=$(du_bytes "$CW_STORE")
               mount_cowfs "$view" "$dir" --allow-other --suid --dev || continue ;;
    esac
    sync; drop_caches
    log "rootfs: round $r, $sys"
    if timed wall debootstrap --variant=minbase --cache-dir="$CACHE" bookworm "$dir" "$MIRROR" > "$TMPW/rf.log" 2>&1; then
      T[$sys]+=" $wall"
      chroot "$dir" dpkg -V > "$TMPW/rf-v.log" 2>&1 || abnormal "$sys: dpkg -V failed: $(head -c 300 "$TMPW/rf-v.log")"
    else
      abnormal "$sys: debootstrap failed: $(tail -2 "$TMPW/rf.log" | tr '\n' ' ')"
    fi
    case $sys in
      host) S[$sys]=$(du_bytes "$dir") ;;
      ovl|fovl) umount_any "$dir"; S[$sys]=$(du_bytes "$TMPW/rf-$sys/upper"); rm -rf "$TMPW/rf-$sys" ;;
      cowview) umount_cowfs "$dir"; S[$sys]=$(( $(du_bytes "$CW_STORE") - s0 )); cw rm "$view" >/dev/null; cw gc >/dev/null ;;
    esac
    log "  $wall s, $(hb "${S[$sys]}")"
  done
done
rm -rf "$TMPW/rf-host"

declare -A LABEL=([host]="host ext4" [ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [cowview]="**cowfs view**")
th "system" "debootstrap, s (rounds)" "median" "vs host" "vs fuse-overlayfs" "space"
hm=$(median ${T[host]:-}); fm=$(median ${T[fovl]:-})
for sys in "${SYSTEMS[@]}"; do
  m=$(median ${T[$sys]:-}); metric "rootfs.$sys.wall" "$m"; metric "rootfs.$sys.bytes" "${S[$sys]:-}"
  tr_ "${LABEL[$sys]}" "${T[$sys]:--}" "$m" "$(ratio "$m" "$hm")" "$(ratio "$m" "$fm")" "$(hb "${S[$sys]:-0}")"
done
note "\`debootstrap --variant=minbase --cache-dir=CACHE bookworm DIR\` into an empty directory, packages from a cache" \
     "filled once; the guest's page cache dropped before each; then \`chroot DIR dpkg -V\` must pass. Space: du of the" \
     "host directory, of the overlays' upper directory, growth of the cowfs store after the umount (zstd-compressed)."
