#!/usr/bin/env bash
# Index lookups in Java as a mount makes them (tools/IndexLookups.java): chunk locations (every block a read
# decodes looks its chunk up) and refused adds in a write transaction (the page checks and the put of a commit),
# random keys, on a copy of a store's index, in the mount JVM's settings (C1 only, SerialGC).
#   bench-scripts/16-index-lookups.sh OLD.jar NEW.jar [STORE]
# The builds alternate, three runs each (four rounds per run; the last round of each run is taken). STORE
# defaults to the bench store ($BENCH_ROOT/store), made by 01-import.sh; its index is copied first.
# Table: $RESULTS/index-lookups.md. No peer: liblmdb's own lookups are what the Java ones are measured against
# (RAW=1 adds a run of tools/RawLmdbGets.java, liblmdb through lmdbjava, on the same copy).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
OLD=${1:?OLD.jar}; NEW=${2:?NEW.jar}
STORE=${3:-$BENCH_ROOT/store}
[ -f "$STORE/index/data.mdb" ] || { echo "no index at $STORE/index (run 01-import.sh)" >&2; exit 1; }
TMPI=$(mktemp -d "$BENCH_ROOT/idx.XXXXXX"); trap 'rm -rf "$TMPI"' EXIT
cp "$STORE/index/data.mdb" "$STORE/index/lock.mdb" "$TMPI/"
JVM=(java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss256k --add-opens=java.base/java.nio=ALL-UNNAMED --add-opens=java.base/sun.nio.ch=ALL-UNNAMED)
TOOL="$(dirname "$0")/tools/IndexLookups.java"
res_begin index-lookups "Index lookups in Java: chunk locations and a commit's checked adds, random keys"
th run build "lookup (us)" "add, refused (us)"
for i in 1 2 3; do
  for b in old new; do
    jar=$OLD; [ $b = new ] && jar=$NEW
    line=$("${JVM[@]}" -cp "$jar" "$TOOL" "$TMPI" | tail -1)
    log "$b: $line"
    lk=$(sed -n 's/.*lookup \([0-9.]*\) us.*/\1/p' <<<"$line"); ad=$(sed -n 's/.*add (refused) \([0-9.]*\) us.*/\1/p' <<<"$line")
    tr_ "$i" "$b" "$lk" "$ad"
  done
done
if [ "${RAW:-0}" = 1 ]; then
  raw=$("${JVM[@]}" -cp "$NEW" "$(dirname "$0")/tools/RawLmdbGets.java" "$TMPI" | tail -1)
  log "liblmdb: $raw"
  tr_ "-" "liblmdb itself (lmdbjava, unchecked)" "$(sed -n 's/.*get \([0-9.]*\) us.*/\1/p' <<<"$raw")" "-"
fi
note "old: \`$OLD\`, new: \`$NEW\`; index of \`$STORE\` ($(du -m "$TMPI/data.mdb" | cut -f1) MB), copied. Each run: \`${JVM[*]} -cp JAR $TOOL COPY\`," \
     "the last of its four rounds (200,000 lookups, 50,000 adds of ids the index has, in a write transaction that is abandoned)."
