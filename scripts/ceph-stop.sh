#!/usr/bin/env bash
# Stop the Ceph daemons started by scripts/ceph-start.sh, using the PIDs in $CEPH_DIR/run/*.pid only
# (a PID is signalled only when /proc/<pid>/cmdline shows it really is that ceph daemon).
# SIGTERM the OSD first (it tells the mon it is going down), then mgr + mon; anything still
# alive after CEPH_STOP_TIMEOUT seconds (default 30) gets SIGKILL. CEPH_PURGE=1 also deletes $CEPH_DIR.
set -uo pipefail
DIR=${CEPH_DIR:-/var/lib/portway-ceph}
TIMEOUT=${CEPH_STOP_TIMEOUT:-30}
stopped=()
# alive: the process exists and is not a zombie (an orphan's zombie may wait a while for its reaper)
alive() { local st; st=$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' /proc/"$1"/status 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }
stop() { # stop <name>...: TERM them all, then wait for all
  local pids=() n p i
  for n in "$@"; do
    [ -f "$DIR/run/$n.pid" ] || continue
    p=$(cat "$DIR/run/$n.pid")
    if [ -n "$p" ] && tr '\0' ' ' 2>/dev/null </proc/"$p"/cmdline | grep -q "^ceph-${n%%.*} "; then
      kill -TERM "$p" && pids+=("$p") && stopped+=("$n:$p")
    fi
  done
  for p in "${pids[@]}"; do
    for ((i = 0; i < TIMEOUT * 10; i++)); do alive "$p" || break; sleep 0.1; done
    if alive "$p"; then echo "ceph-stop: pid $p still alive after ${TIMEOUT}s, SIGKILL" >&2; kill -KILL "$p"; fi
  done
  for n in "$@"; do rm -f "$DIR/run/$n.pid" "$DIR/run/$n.asok"; done
}
stop osd.0
stop mgr.x mon.a
echo "ceph-stop: stopped ${stopped[*]:-none}" >&2
if [ "${CEPH_PURGE:-0}" = 1 ]; then rm -rf "${DIR:?}"; fi
