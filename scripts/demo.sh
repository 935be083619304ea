#!/usr/bin/env bash
# The main job end to end on a throwaway store: import a real tree, mount it read-only and read
# it back, fork it, write in the view, show the snapshot is unchanged, freeze the view, show what
# the store shares, unmount. Usage: bash scripts/demo.sh [SRC_DIR]   (default /usr/share/doc)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
src="${1:-/usr/share/doc}"
work="$(mktemp -d /tmp/cowfs-demo.XXXXXX)"
export COWFS_STORE="$work/store"
cleanup() {
  for m in "$work/view" "$work/snap"; do
    mountpoint -q "$m" 2>/dev/null && ./cowfs umount "$m" >/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "create a store in $COWFS_STORE"
./cowfs init
say "import $src"
./cowfs import "$src" --name base
say "import it again: (almost) nothing new is stored"
./cowfs import "$src" --name base-again
mkdir -p "$work/snap" "$work/view"
say "mount the snapshot read-only and compare it with the source"
./cowfs mount base "$work/snap"
diff -r --no-dereference "$src" "$work/snap" && echo "identical: $(find "$work/snap" | wc -l) paths"
touch "$work/snap/x" 2>/dev/null && echo "BUG: snapshot accepted a write" || echo "writes refused (read-only)"
say "fork it (O(1)) and mount the view read-write"
./cowfs fork base --name work
./cowfs mount work "$work/view"
f="$(cd "$work/view" && find . -type f -size +1k -print -quit)"
echo "appending to $f, creating new/, deleting one directory"
echo "a line written in the view" >> "$work/view/$f"
mkdir "$work/view/new" && cp "$work/view/$f" "$work/view/new/copy"
d="$(cd "$work/view" && find . -mindepth 1 -maxdepth 1 -type d -print -quit)"
rm -rf "$work/view/$d"
say "the view differs, the snapshot does not"
diff -rq --no-dereference "$work/snap" "$work/view" > "$work/diff.txt" || true; head -5 "$work/diff.txt"
diff -r --no-dereference "$src" "$work/snap" && echo "snapshot still identical to $src"
say "freeze the view into a snapshot while it is mounted"
./cowfs snapshot work --name after
./cowfs list
say "what the store shares"
./cowfs stats
./cowfs umount "$work/view"
./cowfs umount "$work/snap"
say "done (the throwaway store is removed)"
