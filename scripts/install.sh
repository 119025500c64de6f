#!/usr/bin/env bash
# Installs the built product as a service layout (as root, after `bash scripts/setup.sh` built it):
#   $PORTWAY_PREFIX  (default /opt/portway)        dist/src, dist/web, package*.json and production node_modules
#   $PORTWAY_BINDIR  (default /usr/local/bin)      the `portway` command
#   $PORTWAY_UNITDIR (default /etc/systemd/system) portway.service (API + web UI + agent),
#                                                  portway-agent.service (agent only)
#   $PORTWAY_CONFDIR (default /etc/portway)        where the units read node.json (not written here:
#                                                  `portway cluster init` / `portway node join` do)
# Running it again upgrades in place (the units are rewritten; systemctl daemon-reload is up to you).
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${PORTWAY_PREFIX:-/opt/portway}
BINDIR=${PORTWAY_BINDIR:-/usr/local/bin}
UNITDIR=${PORTWAY_UNITDIR:-/etc/systemd/system}
CONFDIR=${PORTWAY_CONFDIR:-/etc/portway}
for d in "$PREFIX" "$BINDIR" "$UNITDIR" "$CONFDIR"; do
  case $d in /*) ;; *) echo "install: $d must be an absolute path" >&2; exit 1 ;; esac
  case $d in *[!A-Za-z0-9/._-]*) echo "install: $d: only letters, digits and / . _ - please" >&2; exit 1 ;; esac
done
[ -f dist/src/cli/portway.js ] && [ -f dist/web/index.html ] || { echo "install: build first (bash scripts/setup.sh)" >&2; exit 1; }

echo "== installing into $PREFIX"
mkdir -p "$PREFIX.new/dist"
cp -a dist/src dist/web "$PREFIX.new/dist/"
cp -a package.json package-lock.json README.md "$PREFIX.new/"
(cd "$PREFIX.new" && npm ci --omit=dev --no-audit --no-fund --prefer-offline --loglevel=error)
# swap in one step (an upgrade: the running service keeps its open files until it restarts)
if [ -d "$PREFIX" ]; then rm -rf "$PREFIX.old" && mv "$PREFIX" "$PREFIX.old"; fi
mv "$PREFIX.new" "$PREFIX"
rm -rf "$PREFIX.old"

mkdir -p "$BINDIR" "$UNITDIR" "$CONFDIR"
cat >"$BINDIR/portway.tmp" <<WRAP
#!/bin/sh
exec node "$PREFIX/dist/src/cli/portway.js" "\$@"
WRAP
chmod 755 "$BINDIR/portway.tmp" && mv "$BINDIR/portway.tmp" "$BINDIR/portway"
chmod 750 "$CONFDIR"
for u in packaging/systemd/*.service; do
  sed -e "s#@BINDIR@#$BINDIR#g" -e "s#@CONFDIR@#$CONFDIR#g" "$u" >"$UNITDIR/$(basename "$u")"
done
echo "== installed: $BINDIR/portway, units in $UNITDIR (portway.service, portway-agent.service)"
