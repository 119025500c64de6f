#!/usr/bin/env bash
# Start an etcd 3.4 cluster of 1 or 3 members on loopback, each member a background process with
# a PID file; stop it with scripts/etcd-stop.sh, control one member with scripts/etcd-member.sh.
# The first run on an empty $ETCD_DIR creates the cluster; later runs restart the same members.
#
#   ETCD_DIR=/var/lib/portway-etcd   data (m<i>/data), logs (log/m<i>.log), PID files (run/m<i>.pid)
#   ETCD_MEMBERS=1                   1 or 3
#   ETCD_BASE_PORT=2379              member i: client port BASE+2i, peer port BASE+2i+1 (127.0.0.1)
#   ETCD_HEARTBEAT_MS=100            raft heartbeat interval
#   ETCD_ELECTION_MS=1000            raft election timeout
#   ETCD_WAIT_SECONDS=30             give up waiting for health after this long
#   ETCD_TLS=0                       1: clients speak TLS and must show a client certificate; the
#                                    first run makes a CA, a server certificate (127.0.0.1) and a
#                                    client certificate under $ETCD_DIR/tls (openssl)
#   ETCD_ROOT_PASSWORD=              set: etcd's user `root` gets this password and authentication is
#                                    turned on (first run; a later run leaves the users as they are)
#
# Waits until every member answers GET /health with {"health":"true"}, then prints, as the last
# line on stdout:  ETCD_ENDPOINTS=http[s]://127.0.0.1:<p0>[,http[s]://127.0.0.1:<p2>,...]
# With ETCD_TLS=1 it prints first the files a client needs: ETCD_CA=, ETCD_CERT=, ETCD_KEY=.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${ETCD_DIR:-/var/lib/portway-etcd}
N=${ETCD_MEMBERS:-1}
BASE=${ETCD_BASE_PORT:-2379}
HB=${ETCD_HEARTBEAT_MS:-100}
EL=${ETCD_ELECTION_MS:-1000}
WAIT=${ETCD_WAIT_SECONDS:-30}
TLS=${ETCD_TLS:-0}
ROOT_PW=${ETCD_ROOT_PASSWORD:-}
T0=${EPOCHREALTIME/./}
export ETCD_DIR=$DIR

command -v etcd >/dev/null || { echo "etcd-start: missing etcd (apt-get install etcd-server)" >&2; exit 1; }
case $N in 1 | 3) ;; *) echo "etcd-start: ETCD_MEMBERS must be 1 or 3" >&2; exit 1 ;; esac
case $BASE in '' | *[!0-9]*) echo "etcd-start: bad ETCD_BASE_PORT" >&2; exit 1 ;; esac

mkdir -p "$DIR/run" "$DIR/log"
if [ -f "$DIR/.members" ] && [ -d "$DIR/m0/data" ] && [ "$(cat "$DIR/.members")" != "$N" ]; then
  echo "etcd-start: $DIR holds a $(cat "$DIR/.members")-member cluster, not $N" >&2; exit 1
fi

SCHEME=http
TLS_ARGS=""
if [ "$TLS" = 1 ]; then
  SCHEME=https
  T=$DIR/tls
  if [ ! -f "$T/client.pem" ]; then
    command -v openssl >/dev/null || { echo "etcd-start: ETCD_TLS=1 needs openssl" >&2; exit 1; }
    mkdir -p "$T" && chmod 700 "$T"
    ossl() { openssl "$@" 2>/dev/null || { echo "etcd-start: openssl $1 failed" >&2; exit 1; }; }
    ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/ca.key" -out "$T/ca.pem" \
      -days 3650 -subj "/CN=portway-etcd-ca" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
    for who in server client; do
      ossl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$T/$who.key" -out "$T/$who.csr" -subj "/CN=portway-etcd-$who"
      printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$T/$who.ext"
      ossl x509 -req -in "$T/$who.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial -days 3650 -extfile "$T/$who.ext" -out "$T/$who.pem"
      rm -f "$T/$who.csr" "$T/$who.ext"
    done
    chmod 600 "$T"/*.key
  fi
  TLS_ARGS="--cert-file=$T/server.pem
--key-file=$T/server.key
--trusted-ca-file=$T/ca.pem
--client-cert-auth"
fi

cluster=""
endpoints=""
for ((i = 0; i < N; i++)); do
  cluster+="${cluster:+,}m$i=http://127.0.0.1:$((BASE + 2 * i + 1))"
  endpoints+="${endpoints:+,}$SCHEME://127.0.0.1:$((BASE + 2 * i))"
done

for ((i = 0; i < N; i++)); do
  m=$DIR/m$i
  mkdir -p "$m"
  if [ ! -d "$m/data" ]; then # not created yet (or its first start failed): (re)write its flags
    # one flag per line; etcd-member.sh reads them back with mapfile
    cat >"$m/args" <<ARGS
--name=m$i
--data-dir=$m/data
--listen-client-urls=$SCHEME://127.0.0.1:$((BASE + 2 * i))
--advertise-client-urls=$SCHEME://127.0.0.1:$((BASE + 2 * i))
--listen-peer-urls=http://127.0.0.1:$((BASE + 2 * i + 1))
--initial-advertise-peer-urls=http://127.0.0.1:$((BASE + 2 * i + 1))
--initial-cluster=$cluster
--initial-cluster-state=new
--initial-cluster-token=portway-$(basename "$DIR")-$BASE
--heartbeat-interval=$HB
--election-timeout=$EL
--auto-compaction-mode=revision
--auto-compaction-retention=10000
--logger=zap
--log-outputs=stderr
ARGS
    [ -n "$TLS_ARGS" ] && printf '%s\n' "$TLS_ARGS" >>"$m/args"
  fi
done
echo "$N" >"$DIR/.members"
# the endpoints actually recorded (a restarted cluster keeps the ports it was created with)
endpoints=$(sed -n 's|^--advertise-client-urls=||p' "$DIR"/m*/args | paste -sd, -)

for ((i = 0; i < N; i++)); do "$HERE/etcd-member.sh" start "$i"; done

end=$((SECONDS + WAIT))
for ((i = 0; i < N; i++)); do
  until "$HERE/etcd-member.sh" health "$i"; do
    if ! "$HERE/etcd-member.sh" pid "$i" >/dev/null; then
      echo "etcd-start: member $i died; last log lines:" >&2; tail -n 20 "$DIR/log/m$i.log" >&2; exit 1
    fi
    if ((SECONDS >= end)); then
      echo "etcd-start: timeout waiting for member $i health; last log lines:" >&2; tail -n 20 "$DIR/log/m$i.log" >&2; exit 1
    fi
    sleep 0.1
  done
done
ms=$(((${EPOCHREALTIME/./} - T0) / 1000))
if [ -n "$ROOT_PW" ] && [ ! -f "$DIR/.auth" ]; then
  ctl=(etcdctl --endpoints="$endpoints" --dial-timeout=5s)
  [ "$TLS" = 1 ] && ctl+=(--cacert="$DIR/tls/ca.pem" --cert="$DIR/tls/client.pem" --key="$DIR/tls/client.key")
  # the password goes on stdin (--interactive=false reads it there), never on a command line
  printf '%s\n' "$ROOT_PW" | ETCDCTL_API=3 "${ctl[@]}" user add root --interactive=false >/dev/null ||
    { echo "etcd-start: cannot add the etcd user root" >&2; exit 1; }
  ETCDCTL_API=3 "${ctl[@]}" user grant-role root root >/dev/null || { echo "etcd-start: cannot grant the root role" >&2; exit 1; }
  ETCDCTL_API=3 "${ctl[@]}" auth enable >/dev/null || { echo "etcd-start: cannot turn on etcd authentication" >&2; exit 1; }
  touch "$DIR/.auth"
fi
echo "etcd-start: $N member(s) healthy in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s ($DIR)" >&2
if [ "$TLS" = 1 ] || grep -q -- '^--client-cert-auth$' "$DIR/m0/args"; then
  echo "ETCD_CA=$DIR/tls/ca.pem"
  echo "ETCD_CERT=$DIR/tls/client.pem"
  echo "ETCD_KEY=$DIR/tls/client.key"
fi
echo "ETCD_ENDPOINTS=$endpoints"
