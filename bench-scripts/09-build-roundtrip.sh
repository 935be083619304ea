#!/usr/bin/env bash
# Workload 9: (a) a build in a fresh fork: `make -j2` of a generated C project (400 files) in a cowfs view
# vs the host, kernel overlayfs and fuse-overlayfs (fresh upper each); (b) one GETATTR round trip with
# attributes not cached (fstat of an open file, 50,000 times), through the kernel adapter with its
# caching turned off (-Dcowfs.fuse.timeout=0) and through the libfuse 2 adapter (attr_timeout=0).
source "$(dirname "$0")/lib.sh"
require_jar
res_begin build "A build in a fresh fork; one GETATTR round trip"

PROJ=$BENCH_ROOT/cproject
if [[ ! -f $BENCH_ROOT/.cproject-done ]]; then
  log "generating a C project in $PROJ"
  rm -rf "$PROJ"; mkdir -p "$PROJ/src" "$PROJ/include"
  /usr/bin/python3 - "$PROJ" <<'PY'
import os, sys
root = sys.argv[1]; n = 400
with open(os.path.join(root, "include", "common.h"), "w") as h:
    h.write("#pragma once\n#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n")
    for i in range(n):
        h.write("int f%d(int x);\n" % i)
for i in range(n):
    with open(os.path.join(root, "src", "f%03d.c" % i), "w") as c:
        c.write('#include "common.h"\n')
        for k in range(20):
            c.write("static int g%d_%d(int x) { int s = 0; for (int i = 0; i < x; i++) s += (i * %d) ^ (s >> 3); return s; }\n" % (i, k, k + i))
        c.write("int f%d(int x) { return %s; }\n" % (i, " + ".join("g%d_%d(x)" % (i, k) for k in range(20))))
with open(os.path.join(root, "src", "main.c"), "w") as c:
    c.write('#include "common.h"\nint main(void) { long s = 0;\n')
    for i in range(n):
        c.write("  s += f%d(3);\n" % i)
    c.write('  printf("%ld\\n", s); return 0; }\n')
with open(os.path.join(root, "Makefile"), "w") as m:
    m.write("SRC := $(wildcard src/*.c)\nOBJ := $(SRC:src/%.c=build/%.o)\nCFLAGS := -O1 -Iinclude\n")
    m.write("app: $(OBJ)\n\t$(CC) -o $@ $^\nbuild/%.o: src/%.c include/common.h | build\n\t$(CC) $(CFLAGS) -c -o $@ $<\n")
    m.write("build:\n\tmkdir -p build\nclean:\n\trm -rf build app\n")
PY
  touch "$BENCH_ROOT/.cproject-done"
fi
ensure_snapshot cproject "$PROJ"

SYSTEMS=(host ovl fovl cowview cowview2)
declare -A LABEL=([host]="host ext4 (a fresh cp -a)" [ovl]="kernel overlayfs (fresh upper)" [fovl]="fuse-overlayfs (fresh upper)"
                  [cowview]="**cowfs view (fresh fork)**" [cowview2]="cowfs view, libfuse2 adapter")
DIR=
setup() {
  DIR=
  case $1 in
    host) rm -rf "$TMPW/b-host"; cp -a "$PROJ" "$TMPW/b-host"; DIR=$TMPW/b-host ;;
    ovl) mount_overlay "$PROJ" "$TMPW/b-ovl" "$MNT/b-ovl" && DIR=$MNT/b-ovl ;;
    fovl) mount_fovl "$PROJ" "$TMPW/b-fovl" "$MNT/b-fovl" && DIR=$MNT/b-fovl ;;
    cowview) v=$(uname_ bv); cw fork cproject --name "$v" >/dev/null && mount_cowfs "$v" "$MNT/b-cow" && DIR=$MNT/b-cow ;;
    cowview2) v=$(uname_ bv); cw fork cproject --name "$v" >/dev/null && mount_cowfs "$v" "$MNT/b-cow2" --fuse-api=libfuse2 && DIR=$MNT/b-cow2 ;;
  esac
  [[ -n $DIR ]]
}
teardown() {
  case $1 in
    host) rm -rf "$TMPW/b-host" ;; ovl) umount_any "$MNT/b-ovl" ;; fovl) umount_any "$MNT/b-fovl" ;;
    cowview) umount_cowfs "$MNT/b-cow" ;; cowview2) umount_cowfs "$MNT/b-cow2" ;;
  esac
}
declare -A B
for sys in "${SYSTEMS[@]}"; do
  log "build: $sys"
  setup "$sys" || { abnormal "set-up of $sys failed"; continue; }
  (cd "$DIR" && timed t make -s -j2 app >/dev/null 2>"$TMPW/build.err"; echo "$t") > "$TMPW/b.t"
  B[$sys]=$(cat "$TMPW/b.t")
  [[ -x $DIR/app ]] || abnormal "$sys: the build produced no app ($(head -2 "$TMPW/build.err" | tr '\n' ' '))"
  log "  ${B[$sys]} s"; metric "build.$sys" "${B[$sys]}"
  teardown "$sys"
done
th "where" "make -j2 of 400 C files (s)" "vs kernel overlay" "vs host"
for sys in "${SYSTEMS[@]}"; do
  tr_ "${LABEL[$sys]}" "${B[$sys]:--}" "$(ratio "${B[$sys]:-}" "${B[ovl]:-}")" "$(ratio "${B[$sys]:-}" "${B[host]:-}")"
done

# (b) GETATTR round trip: fstat of an open file with attributes not cached
N=50000
rt() { /usr/bin/python3 -c "
import os, time, sys
fd = os.open(sys.argv[1], os.O_RDONLY); n = int(sys.argv[2])
for _ in range(1000): os.fstat(fd)
t = time.perf_counter()
for _ in range(n): os.fstat(fd)
print('%.2f' % ((time.perf_counter() - t) / n * 1e6))" "$1" "$N"; }
declare -A RT
v1=$(uname_ rt); v2=$(uname_ rt); cw fork cproject --name "$v1" >/dev/null; cw fork cproject --name "$v2" >/dev/null
COWFS_MOUNT_JAVA_OPTS="-Dcowfs.fuse.timeout=0" mount_cowfs "$v1" "$MNT/rt-k"
mount_cowfs "$v2" "$MNT/rt-2" --fuse-api=libfuse2
RT[kernel]=$(rt "$MNT/rt-k/Makefile"); RT[libfuse2]=$(rt "$MNT/rt-2/Makefile"); RT[host]=$(rt "$PROJ/Makefile")
umount_cowfs "$MNT/rt-k"; umount_cowfs "$MNT/rt-2"
metric "roundtrip.kernel" "${RT[kernel]}"; metric "roundtrip.libfuse2" "${RT[libfuse2]}"
md "" "One GETATTR round trip (fstat of an open file, attributes not cached, mean of $N):" ""
th "adapter" "us per fstat" "vs libfuse2 adapter"
tr_ "kernel adapter (-Dcowfs.fuse.timeout=0)" "${RT[kernel]}" "$(ratio "${RT[kernel]}" "${RT[libfuse2]}")"
tr_ "libfuse2 adapter (attr_timeout=0 on views)" "${RT[libfuse2]}" "1.00x"
tr_ "host ext4 (no round trip)" "${RT[host]}" "-"
note "The build: \`make -s -j2 app\` of 400 generated C files (20 small functions each) and a main, in a fresh copy each time." \
     "The round trip: python's os.fstat on one open file; with attributes not cached, each call is one GETATTR."
cw rm "$v1" "$v2" >/dev/null 2>&1; true
