#!/usr/bin/env bash
# Workload 15: hole punching one 4 KiB page in each 64 KiB block of a sparse file (what
# `fallocate --dig-holes`, a database freeing pages or a VM's discard does): punches per second,
# and for cowfs the mount's Java heap in use while the file is still open (after a full GC), which
# the dirty limit bounds. PUNCHES blocks (default 250,000: a 15.3 GiB file). In a cowfs view, kernel
# overlayfs and fuse-overlayfs (upper on ext4). Not in run-all.sh.
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
ensure_snapshot big "$DATA/big"
PUNCHES=${PUNCHES:-250000}
res_begin punch "fallocate PUNCH_HOLE of one 4 KiB page in each of $PUNCHES 64 KiB blocks of a sparse file"
# OLD_JAR=PATH adds "cowold": a view mounted by that build, in the same run (see 14-seek.sh)
layer_systems
declare -A RES
for sys in "${SYSTEMS[@]}"; do
  DIR= pid=
  mount_layer "$sys" big "$DATA/big" pu "$MNT/pu" && DIR=$MNT/pu
  if [[ -z $DIR ]]; then
    abnormal "punch: set-up of $sys failed"
    umount_layer "$sys" pu "$MNT/pu"
    continue
  fi
  [[ $sys == cow* ]] && pid=$(cowfs_pid "$MNT/pu")
  while read -r key val; do RES[$sys,$key]=$val; metric "punch.$sys.$key" "$val"; done < <(/usr/bin/python3 - "$DIR/s.bin" "$PUNCHES" "$pid" <<'PY'
import ctypes, os, re, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long, ctypes.c_long]
path, n, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(fd, n * 65536)
os.pwrite(fd, b"x" * 65536 * 16, 0)  # some data, so that the punches in the first blocks punch data
t = time.time()
for i in range(n):
    if libc.fallocate(fd, 3, i * 65536 + 4096, 4096) != 0:  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
        sys.exit("fallocate: errno %d" % ctypes.get_errno())
print("rate", round(n / (time.time() - t)))
if pid:
    subprocess.run(["jcmd", pid, "GC.run"], stdout=subprocess.DEVNULL)
    used = re.findall(r"used (\d+)K", subprocess.run(["jcmd", pid, "GC.heap_info"], capture_output=True, text=True).stdout)
    print("heap", "%.1f" % (sum(int(u) for u in used[:2]) / 1024) if used else "-")
os.close(fd)
print("du", "%.1f" % (os.stat(path).st_blocks * 512 / 1048576))
PY
) || abnormal "punch: $sys failed"
  umount_layer "$sys" pu "$MNT/pu"
  log "punch: $sys done"
done
hdr=(""); for sys in "${SYSTEMS[@]}"; do hdr+=("${LABEL[$sys]}"); done
th "${hdr[@]}"
for key in rate heap du; do
  case $key in rate) row=("punches per second") ;; heap) row=("mount's Java heap in use, file open, after a full GC (MiB)") ;; du) row=("du of the file after close (MiB)") ;; esac
  for sys in "${SYSTEMS[@]}"; do row+=("${RES[$sys,$key]:--}"); done
  tr_ "${row[@]}"
done
note "A new file in the view (the upper layer), truncated to $PUNCHES x 64 KiB, its first 1 MiB written, then one" \
     "FALLOC_FL_PUNCH_HOLE|KEEP_SIZE of 4 KiB at 4 KiB into each 64 KiB block (Python, ctypes), timed; the heap is" \
     "the young and old generations' use reported by jcmd GC.heap_info after jcmd GC.run, before the close."
