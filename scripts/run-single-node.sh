#!/usr/bin/env bash
# Sets up and runs the single-node product: embedded stores under $PORTWAY_STATE_DIR
# (default /var/lib/portway), real tgtd on loopback path IPs, web UI and API on $PORTWAY_LISTEN
# (default 127.0.0.1:8080, HTTPS). Ctrl-C stops it and gives every path back.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
STATE=${PORTWAY_STATE_DIR:-/var/lib/portway}
LISTEN=${PORTWAY_LISTEN:-127.0.0.1:8080}
# HTTPS with a self-signed certificate made at the first start (its fingerprint: the PORTWAY_TLS_CERT line).
echo "== Portway: web UI on https://$LISTEN (state in $STATE; certificate $STATE/tls/cert.pem)"
exec node dist/src/cli/portway.js serve --state-dir "$STATE" --listen "$LISTEN" ${PORTWAY_CONFIG:+--config "$PORTWAY_CONFIG"}
