#!/usr/bin/env bash
# Control one member of the etcd cluster made by scripts/etcd-start.sh, by PID file only.
#
#   etcd-member.sh start <i>    start member i again with the flags etcd-start.sh recorded
#                               (returns once the process runs; does not wait for health)
#   etcd-member.sh stop <i>     SIGTERM member i, SIGKILL after ETCD_STOP_TIMEOUT s (default 10)
#   etcd-member.sh kill <i>     SIGKILL member i at once (a crash, for tests)
#   etcd-member.sh health <i>   exit 0 when member i answers GET /health with health=true
#   etcd-member.sh pid <i>      print member i's PID when it runs (exit 1 otherwise)
#
#   ETCD_DIR=/var/lib/portway-etcd   the same dir given to etcd-start.sh
set -uo pipefail
DIR=${ETCD_DIR:-/var/lib/portway-etcd}
cmd=${1:-}
i=${2:-}
case $i in '' | *[!0-9]*) echo "usage: etcd-member.sh start|stop|kill|health|pid <member index>" >&2; exit 2 ;; esac
MDIR=$DIR/m$i
PIDF=$DIR/run/m$i.pid
[ -f "$MDIR/args" ] || { echo "etcd-member: no member $i in $DIR (run etcd-start.sh first)" >&2; exit 1; }

# running: print the PID when the PID file names a live etcd process of this member
running() {
  local p
  [ -f "$PIDF" ] || return 1
  p=$(cat "$PIDF")
  [ -n "$p" ] || return 1
  tr '\0' '\n' 2>/dev/null </proc/"$p"/cmdline | grep -qx -- "--data-dir=$MDIR/data" || return 1
  echo "$p"
}

# alive: the process exists and is not a zombie (an orphan's zombie may wait a while for its reaper)
alive() { local st; st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }

client_port() { sed -n 's|^--listen-client-urls=https\{0,1\}://127.0.0.1:\([0-9]*\)$|\1|p' "$MDIR/args"; }

health() { # GET /health on the member's client port over bash's /dev/tcp (no curl, no proxy); TLS: curl
  local port
  port=$(client_port)
  if grep -q -- '^--client-cert-auth$' "$MDIR/args"; then
    curl -s --noproxy '*' --max-time 2 --cacert "$DIR/tls/ca.pem" --cert "$DIR/tls/client.pem" --key "$DIR/tls/client.key" \
      "https://127.0.0.1:$port/health" 2>/dev/null | grep -q '"health":"true"'
    return
  fi
  timeout 2 bash -c 'exec 3<>/dev/tcp/127.0.0.1/"$1" && printf "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" >&3 && cat <&3' _ "$port" 2>/dev/null |
    grep -q '"health":"true"'
}

case $cmd in
start)
  if p=$(running); then echo "etcd-member: member $i already running (pid $p)" >&2; exit 0; fi
  mkdir -p "$DIR/run" "$DIR/log"
  for url in $(sed -nE 's#^--listen-(client|peer)-urls=##p' "$MDIR/args"); do
    port=${url##*:}
    if (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
      echo "etcd-member: 127.0.0.1:$port is already in use; choose another ETCD_BASE_PORT" >&2; exit 1
    fi
  done
  mapfile -t args <"$MDIR/args"
  # etcd reads ETCD_* variables as flags: keep ours (ETCD_DIR, ...) away from it
  (
    for v in $(compgen -e); do case $v in ETCD_*) unset "$v" ;; esac; done
    exec etcd "${args[@]}"
  ) </dev/null >>"$DIR/log/m$i.log" 2>&1 &
  p=$!
  echo "$p" >"$PIDF"
  sleep 0.1
  if ! alive "$p"; then
    echo "etcd-member: member $i exited at once; last log lines:" >&2; tail -n 20 "$DIR/log/m$i.log" >&2; rm -f "$PIDF"; exit 1
  fi
  echo "etcd-member: member $i started (pid $p)" >&2
  ;;
stop | kill)
  if ! p=$(running); then echo "etcd-member: member $i not running" >&2; rm -f "$PIDF"; exit 0; fi
  if [ "$cmd" = kill ]; then
    kill -KILL "$p"
  else
    kill -TERM "$p"
    for ((n = 0; n < ${ETCD_STOP_TIMEOUT:-10} * 10; n++)); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then echo "etcd-member: pid $p still alive, SIGKILL" >&2; kill -KILL "$p"; fi
  fi
  for ((n = 0; n < 50; n++)); do alive "$p" || break; sleep 0.1; done
  rm -f "$PIDF"
  echo "etcd-member: member $i ${cmd/stop/stopp}ed (pid $p)" >&2
  ;;
health) health ;;
pid) running ;;
*) echo "usage: etcd-member.sh start|stop|kill|health|pid <member index>" >&2; exit 2 ;;
esac
