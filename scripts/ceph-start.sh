#!/usr/bin/env bash
# Start a one-node Ceph (Pacific) for Portway: 1 mon + 1 mgr + 1 bluestore OSD on a sparse file,
# everything on 127.0.0.1 (or CEPH_MON_ADDR), no systemd. Daemons fork themselves and write PID files under
# $CEPH_DIR/run; stop them with scripts/ceph-stop.sh (by PID only).
# The first run on an empty $CEPH_DIR creates the cluster and pool "rbd"; later runs restart it.
#
#   CEPH_DIR=/var/lib/portway-ceph  data, logs, sockets, PID files, ceph.conf, keyring (tests: a temp dir)
#   CEPH_MON_PORT=40000             mon msgr2 port; msgr1 uses CEPH_MON_PORT+1 (fixed at creation)
#   CEPH_MON_ADDR=127.0.0.1         address the mon (and, through CEPH_PUBLIC_NETWORK, the OSD) binds;
#                                   e.g. a network namespace's own address (test/harness: 10.99.0.1)
#   CEPH_PUBLIC_NETWORK=127.0.0.0/8 the daemons' public network (must contain CEPH_MON_ADDR)
#   CEPH_STORE_BYTES=4294967296     size of the sparse bluestore block file
#   CEPH_OBJECTSTORE=bluestore      bluestore | memstore (RAM; lost on kill -9)
#   CEPH_POOL=rbd                   the RBD pool created on first start
#   CEPH_EXTRA_CONF=''              extra ceph.conf lines, appended in a final [global] section
#   CEPH_WAIT_SECONDS=120           give up waiting for a state after this long
#   CEPH_WAIT_MGR=1                 0: done once the pool takes I/O, without waiting for the mgr's
#                                   PG stats (saves ~5-8 s; `ceph df` reads zeros until the mgr reports)
#
# Prints, on success, the last line:  CEPH_CONF=<dir>/ceph.conf
# Clients: ceph/rbd/rados -c $CEPH_DIR/ceph.conf --id admin (keyring path is in ceph.conf [client]).
set -euo pipefail

DIR=${CEPH_DIR:-/var/lib/portway-ceph}
PORT=${CEPH_MON_PORT:-40000}
ADDR=${CEPH_MON_ADDR:-127.0.0.1}
PUBNET=${CEPH_PUBLIC_NETWORK:-127.0.0.0/8}
BYTES=${CEPH_STORE_BYTES:-4294967296}
STORE=${CEPH_OBJECTSTORE:-bluestore}
POOL=${CEPH_POOL:-rbd}
WAIT=${CEPH_WAIT_SECONDS:-120}
WAIT_MGR=${CEPH_WAIT_MGR:-1}
CONF=$DIR/ceph.conf
export CEPH_CONF=$CONF
T0=${EPOCHREALTIME/./}

for b in ceph-mon ceph-osd ceph-mgr ceph rbd rados ceph-authtool monmaptool uuidgen; do
  command -v "$b" >/dev/null || { echo "ceph-start: missing $b (apt-get install ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime)" >&2; exit 1; }
done
case $PORT in '' | *[!0-9]*) echo "ceph-start: bad CEPH_MON_PORT '$PORT'" >&2; exit 1 ;; esac
[[ $ADDR =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "ceph-start: bad CEPH_MON_ADDR '$ADDR' (an IPv4 address)" >&2; exit 1; }
[[ $PUBNET =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+/[0-9]+$ ]] || { echo "ceph-start: bad CEPH_PUBLIC_NETWORK '$PUBNET'" >&2; exit 1; }

phase() { # phase <what>: elapsed time since start, to stderr
  local ms=$(((${EPOCHREALTIME/./} - T0) / 1000))
  echo "ceph-start: +$((ms / 1000)).$(printf '%03d' $((ms % 1000)))s $*" >&2
}

log_tail() { tail -n 30 "$DIR"/log/{mon.a,mgr.x,osd.0}.log "$DIR"/log/*.stderr 2>/dev/null >&2 || true; }

wait_for() { # wait_for <description> <command...>: poll every 0.2 s up to $WAIT seconds
  local what=$1; shift
  local end=$((SECONDS + WAIT))
  while ((SECONDS < end)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "ceph-start: timeout waiting for $what; last logs:" >&2; log_tail; exit 1
}

# is_running <type> <id>: the PID file names a live process that really is that daemon
is_running() {
  local f=$DIR/run/$1.$2.pid p
  [ -f "$f" ] || return 1
  p=$(cat "$f")
  [ -n "$p" ] && tr '\0' ' ' 2>/dev/null </proc/"$p"/cmdline | grep -q "^ceph-$1 "
}

port_busy() { (exec 3<>/dev/tcp/"$ADDR"/"$1") 2>/dev/null; }

run_daemon() { # run_daemon mon|mgr|osd <id>: the daemon forks and writes $DIR/run/<type>.<id>.pid
  if is_running "$1" "$2"; then echo "ceph-start: $1.$2 already running" >&2; return 0; fi
  if [ "$1" = mon ]; then
    # another cluster on our mon port would make ceph-mon retry for 15 s and fail: say so at once
    local mp
    mp=$(sed -n 's/^mon host = \[v2:[0-9.]*:\([0-9]*\),.*/\1/p' "$CONF")
    for p in "$mp" $((mp + 1)); do
      if port_busy "$p"; then echo "ceph-start: $ADDR:$p is already in use (another cluster?); choose another CEPH_MON_PORT" >&2; exit 1; fi
    done
  fi
  "ceph-$1" -i "$2" -c "$CONF" </dev/null >>"$DIR/log/$1.$2.stderr" 2>&1 || { cat "$DIR/log/$1.$2.stderr" >&2; exit 1; }
}

mgr_ready() { # mgr reports fresh PG stats, all active+clean: "N pgs: N active+clean; ..."
  ceph pg stat 2>/dev/null | grep -qE '^([0-9]+) pgs: \1 active\+clean;'
}
osd_up() { ceph osd dump --format json 2>/dev/null | grep -q '"up":1'; }

start_daemons() {
  run_daemon mon a
  wait_for "monitor quorum" ceph --connect-timeout 5 mon stat
  run_daemon mgr x
  run_daemon osd 0
  wait_for "osd.0 up" osd_up
  if [ "$WAIT_MGR" = 0 ]; then wait_for "pool $POOL readable" rados -p "$POOL" stat rbd_info; else wait_for "mgr active, PGs active+clean" mgr_ready; fi
}

done_msg() {
  local ms=$(((${EPOCHREALTIME/./} - T0) / 1000))
  echo "ceph-start: up in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s ($DIR)" >&2
  echo "CEPH_CONF=$CONF"
}

if [ -f "$DIR/.created" ]; then
  if ! grep -q "$ADDR:$PORT," "$CONF"; then
    echo "ceph-start: note: $DIR was created with another mon port; using the one in $CONF" >&2
  fi
  start_daemons
  done_msg
  exit 0
fi

if [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ]; then
  # A half-created cluster (no .created marker): only wipe it when nothing of ours runs there.
  for n in mon.a mgr.x osd.0; do
    if is_running "${n%%.*}" "${n#*.}"; then echo "ceph-start: $n runs in half-created $DIR; run ceph-stop.sh first" >&2; exit 1; fi
  done
  rm -rf "${DIR:?}"/{run,log,mon.a,mgr.x,osd.0,crash,keyring,ceph.conf,monmap}
fi
mkdir -p "$DIR"/{run,log,mon.a,mgr.x,osd.0,crash}
FSID=$(uuidgen)

cat >"$CONF" <<CONF
[global]
fsid = $FSID
mon host = [v2:$ADDR:$PORT,v1:$ADDR:$((PORT + 1))]
public network = $PUBNET
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = $DIR/run
crash dir = $DIR/crash
pid file = $DIR/run/\$name.pid
admin socket = $DIR/run/\$name.asok
log file = $DIR/log/\$name.log
mon cluster log file = $DIR/log/cluster.log
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon max pg per osd = 1000
mgr stats period = 1
mon osd full ratio = .99
mon osd nearfull ratio = .99
mon osd backfillfull ratio = .99
osd failsafe full ratio = .99

[client]
# a client's own keyring file first (e.g. ceph.client.tgt.keyring for tgtd's "id=tgt"), else admin's
keyring = $DIR/ceph.\$name.keyring,$DIR/keyring
log to file = false
admin socket =
rados mon op timeout = 30
rados osd op timeout = 30
client mount timeout = 15

[mon]
mon data = $DIR/mon.\$id
mon data avail warn = 1
mon data avail crit = 0
paxos propose interval = 0.1

[mgr]
mgr data = $DIR/mgr.\$id
mgr initial modules = iostat

[osd]
osd data = $DIR/osd.\$id
osd objectstore = $STORE
osd fast shutdown = false
osd memory target = 939524096
osd check max object name len on startup = false
memstore device bytes = $BYTES
bluestore block path = $DIR/osd.\$id/block.file
bluestore block create = true
bluestore block size = $BYTES
bluestore cache autotune = false
bluestore cache size = 134217728

[global]
${CEPH_EXTRA_CONF:-}
CONF

# Keys: mon. and client.admin live in $DIR/keyring (mode 600); each daemon's own key is in its data dir.
umask 077
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool "$DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
umask 022

monmaptool --create --fsid "$FSID" --addv a "[v2:$ADDR:$PORT,v1:$ADDR:$((PORT + 1))]" "$DIR/monmap" >/dev/null
ceph-mon --mkfs -i a -c "$CONF" --monmap "$DIR/monmap" --keyring "$DIR/keyring" >"$DIR/log/mon.a.mkfs.log" 2>&1 ||
  { cat "$DIR/log/mon.a.mkfs.log" >&2; exit 1; }
cp "$DIR/keyring" "$DIR/mon.a/keyring"

run_daemon mon a
wait_for "monitor quorum" ceph --connect-timeout 5 mon stat
phase "mon quorum"

ceph auth get-or-create mgr.x mon 'allow profile mgr' mds 'allow *' osd 'allow *' -o "$DIR/mgr.x/keyring" 2>/dev/null
run_daemon mgr x

OSD_UUID=$(uuidgen)
OSD_KEY=$(ceph-authtool --gen-print-key)
printf '{"cephx_secret": "%s"}\n' "$OSD_KEY" >"$DIR/osd.0/new.json"
ceph osd new "$OSD_UUID" -i "$DIR/osd.0/new.json" >/dev/null # allocates id 0
rm "$DIR/osd.0/new.json"
printf '[osd.0]\n\tkey = %s\n' "$OSD_KEY" >"$DIR/osd.0/keyring"
chmod 600 "$DIR/osd.0/keyring"
ceph-osd -i 0 -c "$CONF" --mkfs --osd-uuid "$OSD_UUID" --key "$OSD_KEY" >"$DIR/log/osd.0.mkfs.log" 2>&1 ||
  { cat "$DIR/log/osd.0.mkfs.log" >&2; exit 1; }
run_daemon osd 0
wait_for "osd.0 up" osd_up
phase "osd.0 up"

ceph osd pool create "$POOL" 8 8 replicated >/dev/null 2>&1 # size 1 from the defaults above
rbd pool init "$POOL"
wait_for "pool $POOL readable" rados -p "$POOL" stat rbd_info # written by rbd pool init
phase "pool $POOL ready"
[ "$WAIT_MGR" = 0 ] || wait_for "mgr active, PGs active+clean" mgr_ready
touch "$DIR/.created"
done_msg
