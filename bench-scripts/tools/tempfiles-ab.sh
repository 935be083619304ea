#!/usr/bin/env bash
# Temporary files in a view, two builds alternating: N x Python's tempfile.TemporaryFile (O_TMPFILE where the view
# has it, else create + unlink), SIZE bytes written, read back, closed; on a fresh fork of a one-file snapshot, a
# fresh mount each sample. Prints the wall time of the loop and how much the store's packs grew; then the same loop
# on the host directory, kernel overlayfs and fuse-overlayfs over it.
#   bench-scripts/tools/tempfiles-ab.sh OLD.jar NEW.jar [ROUNDS] [N] [SIZE]
source "$(dirname "$0")/../lib.sh"
OLD=${1:?usage: tempfiles-ab.sh OLD.jar NEW.jar [ROUNDS] [N] [SIZE]}; NEW=${2:?usage}
ROUNDS=${3:-3}; N=${4:-2000}; SIZE=${5:-65536}
ST=$BENCH_ROOT/tempfiles-store; MP=$MNT/tempfiles; SRC=$TMPW/tempfiles-src
rm -rf "$ST" "$SRC"; mkdir -p "$MP" "$SRC"; echo x > "$SRC/a"
cwj() { local jar=$1 c=$2; shift 2; java -XX:+UseSerialGC --add-opens=java.base/java.nio=ALL-UNNAMED \
  --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$jar" io.cowfs.cli.Main "$c" --store="$ST" "$@"; }
cwj "$NEW" init >/dev/null && cwj "$NEW" import "$SRC" --name t >/dev/null || exit 1
LOOP="import tempfile, time
d = b'x' * $SIZE
t0 = time.perf_counter()
for i in range($N):
    with tempfile.TemporaryFile(dir='.') as f:
        f.write(d); f.seek(0); f.read()
print('%.3f' % (time.perf_counter() - t0))"
echo "| round | build | loop (s) | packs grew (bytes) |"; echo "|---|---|---|---|"
for r in $(seq "$ROUNDS"); do
  for b in $( ((r % 2)) && echo "old new" || echo "new old"); do
    jar=$OLD; [[ $b == new ]] && jar=$NEW
    v=$(uname_ tf); cwj "$jar" fork t --name "$v" >/dev/null && cwj "$jar" mount "$v" "$MP" >/dev/null || exit 1
    p0=$(du -sb "$ST/packs" | cut -f1)
    t=$(cd "$MP" && python3 -c "$LOOP")
    sync -f "$MP"; p1=$(du -sb "$ST/packs" | cut -f1)
    echo "| $r | $b | $t | $((p1 - p0)) |"
    cwj "$jar" umount "$MP" >/dev/null; cwj "$jar" rm "$v" >/dev/null
  done
done
t=$(cd "$SRC" && python3 -c "$LOOP"); echo "host ($SRC): $t s"
# the peers, over the same one-file directory, a fresh upper each
for r in $(seq "$ROUNDS"); do
  mount_overlay "$SRC" "$TMPW/tf-ovl" "$MNT/tf-ovl" && t=$(cd "$MNT/tf-ovl" && python3 -c "$LOOP") && echo "kernel overlayfs, round $r: $t s"
  umount_any "$MNT/tf-ovl"
  mount_fovl "$SRC" "$TMPW/tf-fovl" "$MNT/tf-fovl" && t=$(cd "$MNT/tf-fovl" && python3 -c "$LOOP") && echo "fuse-overlayfs, round $r: $t s"
  umount_any "$MNT/tf-fovl"
done
