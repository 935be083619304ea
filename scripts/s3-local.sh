#!/usr/bin/env bash
# A local S3-compatible server for remote stores (docs/REMOTE.md): s3proxy with its filesystem
# backend, listening on 127.0.0.1 only, everything (data, keys, log, pid, port) under DIR.
#
#   eval "$(scripts/s3-local.sh start DIR)"   starts it (or finds it running); prints the exports
#   scripts/s3-local.sh stop DIR              stops it (a stopped DIR is not an error)
#   scripts/s3-local.sh status DIR            exit 0 if it is running
#   scripts/s3-local.sh fetch                 downloads s3proxy once (scripts/deps.sh does this)
#
# The first start picks a free port and records it in DIR/port; later starts of the same DIR
# reuse it, so the endpoint stays the same across stop/start. The bucket "cowfs" exists from the
# first start (with the filesystem backend a bucket is a directory of DIR/data). Only the export
# lines go to stdout; messages go to stderr.
set -euo pipefail

S3PROXY_VERSION=4.1.0
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/cowfs/s3proxy-$S3PROXY_VERSION
JAR=$CACHE/s3proxy-$S3PROXY_VERSION-jar-with-dependencies.jar
BUCKET=cowfs

usage() {
  echo "usage: s3-local.sh start DIR | stop DIR | status DIR | fetch" >&2
  exit 2
}

say() { echo "s3-local: $*" >&2; }

# The runnable s3proxy jar, from Maven Central through Maven (once per machine; concurrent
# callers wait for each other).
fetch() {
  [[ -s $JAR ]] && return 0
  mkdir -p "$CACHE"
  exec 8>"$CACHE/.lock"
  flock 8
  if [[ ! -s $JAR ]]; then
    say "downloading s3proxy $S3PROXY_VERSION (once) into $CACHE"
    local tmp
    tmp=$(mktemp -d "$CACHE/.fetch.XXXXXX")
    if ! (cd "$tmp" && mvn -B -q -ntp org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
          -Dartifact="org.gaul:s3proxy:$S3PROXY_VERSION:jar:jar-with-dependencies" \
          -DoutputDirectory="$tmp" >&2); then
      rm -rf "$tmp"
      say "cannot download org.gaul:s3proxy:$S3PROXY_VERSION:jar-with-dependencies through Maven"
      exit 1
    fi
    mv "$tmp/$(basename "$JAR")" "$JAR"
    rm -rf "$tmp"
  fi
  exec 8>&-
}

# Whether something accepts connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Whether process $1 exists and is not a zombie (a killed server nobody reaped yet is gone).
alive() {
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n $state && $state != Z && $state != X ]]
}

# Whether the pid in DIR/pid is this DIR's s3proxy (not a reused pid).
running() {
  local pid
  [[ -s $DIR/pid ]] || return 1
  pid=$(<"$DIR/pid")
  [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "--properties $DIR/s3proxy.properties"
}

exports() {
  local id secret
  id=$(sed -n 1p "$DIR/keys")
  secret=$(sed -n 2p "$DIR/keys")
  echo "export AWS_ACCESS_KEY_ID=$id"
  echo "export AWS_SECRET_ACCESS_KEY=$secret"
  echo "export AWS_REGION=us-east-1"
  echo "export COWFS_S3_ENDPOINT=http://127.0.0.1:$(<"$DIR/port")"
}

hex() { head -c "$1" /dev/urandom | od -An -tx1 | tr -d ' \n'; }

# Writes DIR/s3proxy.properties for the port in DIR/port (holds the secret: mode 0600).
write_properties() {
  local id secret
  id=$(sed -n 1p "$DIR/keys")
  secret=$(sed -n 2p "$DIR/keys")
  (umask 077 && cat >"$DIR/s3proxy.properties" <<EOF
s3proxy.endpoint=http://127.0.0.1:$(<"$DIR/port")
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=$id
s3proxy.credential=$secret
jclouds.provider=filesystem
jclouds.filesystem.basedir=$DIR/data
EOF
  )
}

# Starts the server on the port in DIR/port; waits until it answers HTTP. Returns 1 if it died
# (the caller reads the log), 2 if it did not answer within 30 s.
launch() {
  : >"$DIR/s3proxy.log"
  # setsid and no inherited descriptors: the server outlives this script and holds no pipe of the caller
  LOG_LEVEL=${S3PROXY_LOG_LEVEL:-info} setsid "${JAVA:-java}" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -jar "$JAR" --properties "$DIR/s3proxy.properties" </dev/null >>"$DIR/s3proxy.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$DIR/pid"
  local i
  for ((i = 0; i < 300; i++)); do
    if ! alive "$pid"; then
      rm -f "$DIR/pid"
      return 1
    fi
    if port_open "$(<"$DIR/port")" && running; then
      return 0
    fi
    sleep 0.1
  done
  return 2
}

start() {
  if [[ -d $DIR ]] && running; then
    exports
    return 0
  fi
  fetch
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  mkdir -p "$DIR/data/$BUCKET"
  if [[ ! -s $DIR/keys ]]; then
    (umask 077 && printf 'COWFS%s\n%s\n' "$(hex 8 | tr a-f A-F)" "$(hex 20)" >"$DIR/keys.tmp" && mv "$DIR/keys.tmp" "$DIR/keys")
  fi
  local fixed=1 attempts=1 rc=0
  if [[ ! -s $DIR/port ]]; then
    fixed=0 attempts=5 # a port picked here may be taken by another server starting at the same moment: pick again
  fi
  for ((; attempts > 0; attempts--)); do
    if ((!fixed)); then
      local port
      for ((;;)); do
        # below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default), where
        # a client socket of any process can take a port between this check and s3proxy's bind
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 12000))
        port_open "$port" || break
      done
      echo "$port" >"$DIR/port"
    elif port_open "$(<"$DIR/port")"; then
      say "port $(<"$DIR/port") of $DIR is taken by another process; cannot start there"
      exit 1
    fi
    write_properties
    rc=0
    launch || rc=$?
    ((rc == 0)) && break
    ((rc == 1)) && ((!fixed)) && grep -qE 'Address already in use|Failed to bind' "$DIR/s3proxy.log" && continue
    break
  done
  if ((rc != 0)); then
    ((rc == 2)) && stop_server
    say "s3proxy did not start in $DIR ($([[ $rc == 2 ]] && echo 'no answer within 30 s' || echo 'it exited')); end of $DIR/s3proxy.log:"
    tail -n 20 "$DIR/s3proxy.log" >&2
    exit 1
  fi
  say "s3proxy $S3PROXY_VERSION on http://127.0.0.1:$(<"$DIR/port") (pid $(<"$DIR/pid"), data in $DIR/data, bucket $BUCKET)"
  exports
}

stop_server() {
  if running; then
    local pid i
    pid=$(<"$DIR/pid")
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
      alive "$pid" || break
      sleep 0.1
    done
    if alive "$pid"; then
      say "s3proxy (pid $pid) ignored TERM for 5 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while alive "$pid"; do sleep 0.1; done
    fi
  fi
  rm -f "$DIR/pid"
  if [[ -s $DIR/port ]]; then
    local j
    for ((j = 0; j < 100; j++)); do
      port_open "$(<"$DIR/port")" || return 0
      sleep 0.1
    done
    say "port $(<"$DIR/port") still answers after s3proxy of $DIR stopped (another process?)"
  fi
}

(($# >= 1)) || usage
verb=$1
case $verb in
  fetch)
    (($# == 1)) || usage
    fetch
    ;;
  start | stop | status)
    (($# == 2)) && [[ -n $2 ]] || usage
    DIR=$(realpath -m -- "$2")
    case $verb in
      start) start ;;
      stop) stop_server ;;
      status) running ;;
    esac
    ;;
  *) usage ;;
esac
