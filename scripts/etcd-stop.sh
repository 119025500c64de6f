#!/usr/bin/env bash
# Stop every member of the etcd cluster started by scripts/etcd-start.sh, by PID file only.
#   ETCD_DIR=/var/lib/portway-etcd   ETCD_PURGE=1 also deletes $ETCD_DIR
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${ETCD_DIR:-/var/lib/portway-etcd}
export ETCD_DIR=$DIR
# One member after the other (highest index first): a leader that gets SIGTERM hands leadership to
# a live peer first, which is quick while the others still run (all at once it waits for a timeout).
for m in $(ls -d "$DIR"/m* 2>/dev/null | sort -r); do
  [ -f "$m/args" ] || continue
  "$HERE/etcd-member.sh" stop "${m##*/m}"
done
if [ "${ETCD_PURGE:-0}" = 1 ]; then rm -rf "${DIR:?}"; fi
