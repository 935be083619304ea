#!/usr/bin/env bash
# Workload 10: the VM-memory case. A snapshot holds a memory image (VM_MB MiB: the first half random,
# the rest zero pages, as a guest's memory mostly is). (1) Cold map-and-touch: a process maps the image
# MAP_PRIVATE and reads one byte of every page, cold caches, on the host file, through kernel overlayfs,
# fuse-overlayfs and a cowfs view. (2) Ten forks: each is forked, mounted, mapped MAP_SHARED by a process
# that writes 1 % of the pages (random, seeded per fork), msyncs and unmaps; the store's growth per fork
# is set against the bytes written. The peers' copy-up of the whole image on the first write is measured
# once (kernel overlayfs; fuse-overlayfs copies up the same way).
source "$(dirname "$0")/lib.sh"
require_jar
VM_MB=${VM_MB:-4096}
FORKS=${VM_FORKS:-10}
VMD=$DATA/vm-$VM_MB
if [[ ! -f $VMD/mem.img ]]; then
  log "vm: creating a $VM_MB MiB image"
  mkdir -p "$VMD"
  head -c $((VM_MB / 2))M /dev/urandom > "$VMD/mem.img.tmp"
  truncate -s ${VM_MB}M "$VMD/mem.img.tmp"
  mv "$VMD/mem.img.tmp" "$VMD/mem.img"
fi
ensure_snapshot "vm$VM_MB" "$VMD"
res_begin vm-memory "VM memory image: cold map-and-touch, and ten forks writing 1 % of the pages through MAP_SHARED"

# vmtool touch FILE: MAP_PRIVATE, read a byte of every page. vmtool write FILE PERCENT SEED: MAP_SHARED,
# write PERCENT % of the pages at random, msync(MS_SYNC), munmap.
cat > "$TMPW/vmtool.c" <<'EOF'
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
  int w = argc > 2 && strcmp(argv[1], "write") == 0;
  int fd = open(argv[2], w ? O_RDWR : O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) { perror(argv[2]); return 1; }
  long pg = 4096, pages = st.st_size / pg;
  unsigned char *m = mmap(0, st.st_size, w ? PROT_READ | PROT_WRITE : PROT_READ, w ? MAP_SHARED : MAP_PRIVATE, fd, 0);
  if (m == MAP_FAILED) { perror("mmap"); return 1; }
  if (!w) {
    unsigned long sum = 0;
    for (long i = 0; i < pages; i++) sum += m[i * pg];
    printf("%lu\n", sum);
  } else {
    long n = pages * atof(argv[3]) / 100;
    srand(atoi(argv[4]));
    for (long k = 0; k < n; k++) {
      long p = ((long) rand() * RAND_MAX + rand()) % pages;
      for (long j = 0; j < pg; j += 8) *(unsigned long *) (m + p * pg + j) = (unsigned long) rand() << 32 | k;
    }
    if (msync(m, st.st_size, MS_SYNC) != 0) { perror("msync"); return 1; }
    printf("%ld\n", n * pg);
  }
  munmap(m, st.st_size);
  return close(fd) != 0;
}
EOF
gcc -O2 -o "$TMPW/vmtool" "$TMPW/vmtool.c" || { abnormal "cannot compile the vm tool"; exit 1; }

# (1) cold map-and-touch
# With PRETOUCH_GIB set, each touch is preceded by touching enough memory for the image's pages and a
# cowfs view's packs beside them (twice the image, and 1 GiB): with only PRETOUCH_GIB=3 the last GiBs
# of a 4 GiB image landed on guest pages the host had taken back, and the host's own ext4 touched the
# image at 0.51 GB/s where it does 3-4 GB/s on host-backed pages (docs/PERFORMANCE.md, 2026-12-03).
VM_PRETOUCH=${PRETOUCH_GIB:-0}
if [[ $VM_PRETOUCH != 0 ]] && (( VM_PRETOUCH < VM_MB * 2 / 1024 + 1 )); then VM_PRETOUCH=$(( VM_MB * 2 / 1024 + 1 )); fi
read -r -a SYSTEMS <<< "${SYSTEMS:-host ovl fovl cowview}"
declare -A LABEL=([host]="host ext4" [ovl]="kernel overlayfs" [fovl]="fuse-overlayfs" [cowview]="**cowfs view**")
declare -A TOUCH
for sys in "${SYSTEMS[@]}"; do
  case $sys in
    host) IMG=$VMD/mem.img ;;
    ovl) mount_overlay "$VMD" "$TMPW/vm-ovl" "$MNT/vm-ovl"; IMG=$MNT/vm-ovl/mem.img ;;
    fovl) mount_fovl "$VMD" "$TMPW/vm-fovl" "$MNT/vm-fovl"; IMG=$MNT/vm-fovl/mem.img ;;
    cowview) V=$(uname_ vmv); cw fork "vm$VM_MB" --name "$V" >/dev/null && mount_cowfs "$V" "$MNT/vm-cow"; IMG=$MNT/vm-cow/mem.img ;;
  esac
  PRETOUCH_GIB=$VM_PRETOUCH drop_caches
  timed t "$TMPW/vmtool" touch "$IMG" > /dev/null || abnormal "$sys: map-and-touch failed"
  TOUCH[$sys]=$t
  log "vm touch on $sys: $t s"
  metric "vm.touch.$sys" "$t"
  case $sys in
    ovl) umount_any "$MNT/vm-ovl"; rm -rf "$TMPW/vm-ovl" ;;
    fovl) umount_any "$MNT/vm-fovl"; rm -rf "$TMPW/vm-fovl" ;;
    cowview) umount_cowfs "$MNT/vm-cow"; cw rm "$V" >/dev/null || abnormal "rm $V failed" ;;
  esac
done
hdr=("measure"); for sys in "${SYSTEMS[@]}"; do hdr+=("${LABEL[$sys]}"); done
th "${hdr[@]}" "cowfs / host" "cowfs / overlayfs" "cowfs / fuse-overlayfs"
row=("map MAP_PRIVATE and touch every page of $VM_MB MiB, cold (s)")
for sys in "${SYSTEMS[@]}"; do row+=("${TOUCH[$sys]:--}"); done
c=${TOUCH[cowview]:-}
row+=("$(ratio "$c" "${TOUCH[host]:-}")" "$(ratio "$c" "${TOUCH[ovl]:-}")" "$(ratio "$c" "${TOUCH[fovl]:-}")")
tr_ "${row[@]}"
note "GB/s of the touch: $(for sys in "${SYSTEMS[@]}"; do [[ -n ${TOUCH[$sys]:-} ]] && printf '%s %s; ' "${LABEL[$sys]}" "$(calc "$VM_MB / 1024 / ${TOUCH[$sys]}" 2)"; done)"
note "Before each touch the page cache was dropped$([[ $VM_PRETOUCH != 0 ]] && echo " and $VM_PRETOUCH GiB of memory touched and freed (PRETOUCH_GIB, raised to fit the image)")."

# (2) ten forks writing 1 % each
th "fork" "cowfs fork (s)" "write 1 % + msync (s)" "bytes written" "store growth" "growth / written"
declare -a GROWTHS
# forks of earlier runs wrote the same pages (the seeds are fixed): remove them and collect their
# chunks, or this run's writes would deduplicate against them and show no growth
cw list --names | grep '^vmf-' | while read -r old; do cw rm "$old" >/dev/null; done
cw gc >/dev/null || abnormal "gc before the forks failed"
for i in $(seq 1 "$FORKS"); do
  V=$(uname_ vmf)
  s0=$(du_bytes "$STORE")
  timed tf cw fork "vm$VM_MB" --name "$V" >/dev/null || abnormal "fork $i failed"
  mount_cowfs "$V" "$MNT/vm-cow"
  timed tw bash -c '"$1" write "$2" 1 "$3" > "$4"' _ "$TMPW/vmtool" "$MNT/vm-cow/mem.img" "$i" "$TMPW/written" || abnormal "fork $i: write failed"
  written=$(cat "$TMPW/written")
  umount_cowfs "$MNT/vm-cow"
  g=$(( $(du_bytes "$STORE") - s0 ))
  GROWTHS+=("$g")
  tr_ "$i" "$tf" "$tw" "$(hb "$written")" "$(hb "$g")" "$(calc "$g / $written" 2)x"
  metric "vm.fork$i.growth" "$g"; metric "vm.fork$i.written" "$written"; metric "vm.fork$i.forkSeconds" "$tf"
  cw rm "$V" >/dev/null || abnormal "fork $i: rm failed" # measured: not left in the bench store (its chunks stay until gc)
done
# the peers: a write copies the whole image up first
mount_overlay "$VMD" "$TMPW/vm-ovl" "$MNT/vm-ovl"
s0=$(du_bytes "$TMPW/vm-ovl")
timed to bash -c '"$1" write "$2" 1 1 > /dev/null' _ "$TMPW/vmtool" "$MNT/vm-ovl/mem.img" || abnormal "overlayfs write failed"
go=$(( $(du_bytes "$TMPW/vm-ovl") - s0 ))
umount_any "$MNT/vm-ovl"; rm -rf "$TMPW/vm-ovl"
note "The same write of 1 % of the pages in kernel overlayfs took $to s (copy-up of the whole image included) and" \
     "its upper layer grew by $(hb "$go") (per fork; fuse-overlayfs copies up the same way)." \
     "Store growth is \`du\` of the store before the fork and after the fork's unmount (the mount persists and exits)." \
     "The image: $VM_MB MiB, the first half random, the rest zero pages (holes in the snapshot)."
