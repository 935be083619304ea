#!/usr/bin/env bash
# Workload 12: the CLI's data path, two builds in one run, run as the `cowfs` launcher runs them
# (C1 only, -Xss1m: docs/STARTUP.md): import of the 1 GiB file (page cache warm) and `verify` of
# that store cold (drop_caches), into a fresh store per build and repetition. The launcher's JVM
# flags matter here: its C1-only JVM runs the JDK's SHA-256 as Java code, libcrypto's does not.
#   bench-scripts/12-cli-data.sh OLD.jar NEW.jar
source "$(dirname "$0")/lib.sh"
OLD=$1; NEW=$2
ensure_data
res_begin cli-data "CLI data path: import and verify of ${BIG_MB} MiB, two builds, launcher JVM flags"
launch() { local jar=$1; shift
  java -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m -XX:-UsePerfData --add-opens=java.base/java.nio=ALL-UNNAMED \
    --add-opens=java.base/sun.nio.ch=ALL-UNNAMED -cp "$jar" io.cowfs.cli.Main "$@"; }
warm_tree "$DATA/big"
declare -A IMP VER
for r in $(seq 1 "${REPS_CLI:-3}"); do
  for b in old new; do
    jar=$OLD; [[ $b == new ]] && jar=$NEW
    st=$TMPW/cli-data-$b; rm -rf "$st"
    launch "$jar" init --store="$st" >/dev/null || { abnormal "init with $b failed"; continue; }
    sync
    timed ti launch "$jar" import "$DATA/big" --name big --store="$st" >/dev/null || abnormal "$b: import failed"
    sync; drop_caches
    timed tv launch "$jar" verify --store="$st" >/dev/null || abnormal "$b: verify failed"
    IMP[$b]+="$ti "; VER[$b]+="$tv "
    log "cli-data $b rep $r: import $ti s, verify $tv s"
    rm -rf "$st"
  done
done
th "measure" "old build $(basename "$OLD")" "new build $(basename "$NEW")" "old / new"
for m in import verify; do
  if [[ $m == import ]]; then o=$(median ${IMP[old]}); n=$(median ${IMP[new]}); else o=$(median ${VER[old]}); n=$(median ${VER[new]}); fi
  tr_ "$m of ${BIG_MB} MiB (median of ${REPS_CLI:-3}, s)" "$o" "$n" "$(ratio "$o" "$n")"
  metric "cli-data.$m.old" "$o"; metric "cli-data.$m.new" "$n"
done
note "import: \`cowfs import DATA/big\` into a fresh store, source in the page cache; verify: \`cowfs verify\` of that store" \
     "after \`drop_caches\` (reads, decompresses and hashes every chunk). Both with the launcher's JVM flags" \
     "(\`-XX:TieredStopAtLevel=1 -Xss1m\`), builds alternating, load average at the end: $(cut -d" " -f1-3 /proc/loadavg)."
