#!/usr/bin/env bash
# Makes the local base images the container tests use, once per machine (podman keeps them):
#   localhost/cowfs-test-busybox:latest   a busybox-static tree (seconds)
#   localhost/cowfs-test-debian:bookworm  debootstrap --variant=minbase bookworm (about 2 min; the
#                                         Dockerfile's runtime base where no registry can be reached)
# No image registry is reached: images are imported from root filesystems made here.
#   bash scripts/container-images.sh [busybox|debian|all]   (default: all)
set -euo pipefail
what=${1:-all}
mirror=${COWFS_DEBIAN_MIRROR:-http://deb.debian.org/debian}

need() { command -v "$1" >/dev/null || { echo "container-images: $1 missing; run: apt-get install -y $2" >&2; exit 1; }; }
need podman "podman runc"

if [[ $what == busybox || $what == all ]] && ! podman image exists localhost/cowfs-test-busybox:latest; then
  [[ -x /bin/busybox ]] && file -L /bin/busybox 2>/dev/null | grep -q static \
    || { echo "container-images: a static /bin/busybox is needed; run: apt-get install -y busybox-static" >&2; exit 1; }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,etc,tmp,work,x} && chmod 1777 "$root/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for a in $("$root/bin/busybox" --list); do [[ -e $root/bin/$a ]] || ln -s busybox "$root/bin/$a"; done
  printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/tmp:/bin/sh\n' > "$root/etc/passwd"
  printf 'root:x:0:\nuser:x:1000:\n' > "$root/etc/group"
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/sh"]' - localhost/cowfs-test-busybox:latest >/dev/null
  rm -rf "$root"; trap - EXIT
  echo "container-images: made localhost/cowfs-test-busybox:latest" >&2
fi

if [[ $what == debian || $what == all ]] && ! podman image exists localhost/cowfs-test-debian:bookworm; then
  need debootstrap debootstrap
  root=$(mktemp -d /var/tmp/cowfs-debian-XXXXXX)
  trap 'rm -rf "$root"' EXIT
  t0=$SECONDS
  debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -5 "$root.log" >&2; rm -f "$root.log"; echo "container-images: debootstrap failed" >&2; exit 1; }
  rm -f "$root.log"
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -c . | podman import --change 'CMD ["/bin/bash"]' - localhost/cowfs-test-debian:bookworm >/dev/null
  rm -rf "$root"; trap - EXIT
  echo "container-images: made localhost/cowfs-test-debian:bookworm in $((SECONDS - t0)) s" >&2
fi
