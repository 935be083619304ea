#!/usr/bin/env bash
# Workload 20: a database's writes in a view (a CI job's test database, an application's SQLite
# file, anything that fsyncs after small writes), against the host, kernel overlayfs and
# fuse-overlayfs in the same run, systems alternating within each of ROUNDS rounds (default 3),
# each round in a fresh fork / fresh upper over an empty lower layer:
#   fsync:  FSYNCS (default 2,000) rounds of a 4 KiB pwrite into a 64 KiB file + fsync (us per round);
#   wal:    SQLite in WAL mode, synchronous=FULL: 2,000 inserts committed every 10, 500 one-row
#           update transactions, a delete, VACUUM (seconds; tools/db-workload.py);
#   delete: the same with the rollback journal (journal_mode=DELETE).
# Each SQLite run is checked (integrity_check and the row count) on every system.
# OLD_JAR=path adds a second cowfs view served by that build (an A/B in the same run).
source "$(dirname "$0")/lib.sh"
require_jar
ensure_data
res_begin database "a database's writes (fsync, SQLite) in a view"
mkdir -p "$DATA/empty"
ensure_snapshot empty "$DATA/empty"
if [[ $QUICK == 1 ]]; then ROUNDS=${ROUNDS:-1}; FSYNCS=${FSYNCS:-300}; else ROUNDS=${ROUNDS:-3}; FSYNCS=${FSYNCS:-2000}; fi
TOOL=$(dirname "$0")/tools/db-workload.py

read -r -a SYSTEMS <<< "${SYSTEMS:-host ovl fovl cowview}"   # SYSTEMS="cowview cowold": the two builds alone
[[ -n ${OLD_JAR:-} && " ${SYSTEMS[*]} " != *" cowold "* ]] && SYSTEMS+=(cowold)
declare -A LABEL=([host]="host ext4" [ovl]="kernel overlayfs" [fovl]="fuse-overlayfs"
                  [cowview]="**cowfs view**" [cowold]="cowfs view, OLD_JAR")
# sqlite_run SYS MODE -> seconds on stdout; an abnormal result if the database is not as written
sqlite_run() {
  local out
  if ! out=$(/usr/bin/python3 "$TOOL" "$DIR" sqlite "$2" 2>&1); then
    abnormal "$1: SQLite $2 failed or the database is not as written: $(tr '\n' ' ' <<<"$out" | head -c 300)"
  fi
  sed -n 's/^seconds //p' <<<"$out"
}

declare -A FS WAL DEL
for r in $(seq 1 "$ROUNDS"); do
  for sys in "${SYSTEMS[@]}"; do
    log "database: round $r, $sys"
    writable_dir "$sys" db empty "$DATA/empty" || { abnormal "set-up of $sys failed"; continue; }
    f=$(/usr/bin/python3 "$TOOL" "$DIR" fsync "$FSYNCS" | sed -n 's/^us_per_fsync //p')
    w=$(sqlite_run "$sys" wal)
    d=$(sqlite_run "$sys" delete)
    log "  fsync ${f:-?} us, wal ${w:-?} s, delete ${d:-?} s"
    FS[$sys]+="${f:-} "; WAL[$sys]+="${w:-} "; DEL[$sys]+="${d:-} "
    metric "database.$sys.fsync_us.r$r" "${f:-}"; metric "database.$sys.wal.r$r" "${w:-}"; metric "database.$sys.delete.r$r" "${d:-}"
    drop_writable_dir "$sys" db
  done
done
declare -A MF MW MD
for sys in "${SYSTEMS[@]}"; do
  # shellcheck disable=SC2086
  MF[$sys]=$(median ${FS[$sys]}); MW[$sys]=$(median ${WAL[$sys]}); MD[$sys]=$(median ${DEL[$sys]})
done
th "where" "4 KiB write + fsync (us)" "vs kernel overlay" "vs fuse-overlayfs" "SQLite WAL (s)" "vs kernel overlay" "vs fuse-overlayfs" \
   "SQLite rollback journal (s)" "vs kernel overlay" "vs fuse-overlayfs"
for sys in "${SYSTEMS[@]}"; do
  tr_ "${LABEL[$sys]}" "${MF[$sys]}" "$(ratio "${MF[$sys]}" "${MF[ovl]:-}")" "$(ratio "${MF[$sys]}" "${MF[fovl]:-}")" \
      "${MW[$sys]}" "$(ratio "${MW[$sys]}" "${MW[ovl]:-}")" "$(ratio "${MW[$sys]}" "${MW[fovl]:-}")" \
      "${MD[$sys]}" "$(ratio "${MD[$sys]}" "${MD[ovl]:-}")" "$(ratio "${MD[$sys]}" "${MD[fovl]:-}")"
done
note "Medians of $ROUNDS rounds, systems alternating within each round, each in a fresh fork or upper over an empty lower layer." \
     "fsync: $FSYNCS rounds of a 4 KiB \`pwrite\` into a 64 KiB file and \`fsync\`. SQLite ($(/usr/bin/python3 -c 'import sqlite3; print(sqlite3.sqlite_version)'), synchronous=FULL):" \
     "2,000 inserts committed every 10, 500 one-row updates each its own transaction, a delete of a third, VACUUM;" \
     "checked with integrity_check and the row count on every system (\`bench-scripts/tools/db-workload.py\`)." \
     "Samples (fsync us / WAL s / rollback s): $(for sys in "${SYSTEMS[@]}"; do printf '%s: %s/ %s/ %s; ' "$sys" "${FS[$sys]}" "${WAL[$sys]}" "${DEL[$sys]}"; done)"
