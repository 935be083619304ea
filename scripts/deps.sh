#!/usr/bin/env bash
# Installs what cowfs and its tests need on Debian/Ubuntu (as root), or says exactly what to run.
set -euo pipefail
pkgs=(libfuse2 fuse3 libssl3 attr git gcc make e2fsprogs xfsprogs btrfs-progs) # mkfs.*: PowerCutIT, HostFilesystemIT
# intel-ipsec-mb: SHA-256 of several blocks at once in parallel lanes (x86-64 only; elsewhere one at a time)
[[ $(dpkg --print-architecture 2>/dev/null) == amd64 ]] && pkgs+=(libipsec-mb1)
# the container tests (ContainerIT): rootful podman with runc, and what the local test images are
# made from (scripts/container-images.sh: busybox-static, debootstrap); zsh for CompletionTest
pkgs+=(podman runc busybox-static debootstrap zsh)
command -v java >/dev/null && java -version 2>&1 | grep -qE 'version "(1[7-9]|2[0-9])' || pkgs+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null || pkgs+=(maven)
missing=()
for p in "${pkgs[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# Never the old 'fuse' package: it conflicts with fuse3, which provides fusermount (README.md, Install).
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "cowfs: missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "cowfs: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq "${missing[@]}" >&2
fi
# Rootful podman on this machine kind needs runc (crun fails: "setrlimit RLIMIT_NOFILE: Operation
# not permitted") and ulimits the sandbox allows. Written only where no containers.conf exists: a
# machine with its own configuration keeps it (the container tests then say why they skip, if it fails).
conf=/etc/containers/containers.conf
if [[ $(id -u) -eq 0 && ! -e $conf ]] && command -v podman >/dev/null; then
  mkdir -p /etc/containers
  cat > "$conf" <<'CONF'
# Written by cowfs scripts/deps.sh (there was none): rootful podman needs runc and these ulimits here.
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
CONF
  echo "cowfs: wrote $conf (runc, ulimits)" >&2
fi
# The local S3 server of the remote-store tests (scripts/s3-local.sh): downloaded once, here rather
# than inside a timed test.
bash "$(dirname "$0")/s3-local.sh" fetch
[[ -e /dev/fuse ]] || { echo "cowfs: /dev/fuse is missing (in a container: --device /dev/fuse --cap-add SYS_ADMIN)" >&2; exit 1; }
