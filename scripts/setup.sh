#!/usr/bin/env bash
# Installs what Portway needs on a Debian 12 machine (as root) and builds it.
#   apt packages: tgt (+rbd backing store), libiscsi and qemu-io (test initiators), etcd, Ceph, chromium,
#                 openssl (certificates), curl (etcd health over TLS), systemd (systemd-analyze for the unit test),
#                 libiscsi-dev + gcc (tools/pw-scsi, the SCSI test initiator)
#   npm ci, then the build (server to dist/src, web UI to dist/web, tools/pw-scsi to dist/bin/pw-scsi)
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(tgt tgt-rbd libiscsi-bin qemu-utils qemu-block-extra etcd-server etcd-client
      ceph-mon ceph-osd ceph-mgr ceph-common iproute2 iputils-arping chromium procps
      libiscsi-dev gcc libc6-dev pkg-config openssl curl systemd)

need_node() {
  command -v node >/dev/null && [ "$(node -p 'process.versions.node.split(".")[0]')" -ge 20 ]
}
if ! need_node; then
  echo "Portway needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))." >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  if [ "$(id -u)" != 0 ]; then echo "run as root to install packages" >&2; exit 1; fi
  apt-get update -q
  # The packages' own services are not wanted: Portway starts tgtd, etcd and Ceph itself.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi
echo "== build"
npm run build --silent
# pw-scsi: one iSCSI session driven from stdin (reservation tests); rebuilt when its source is newer.
if [ ! -x dist/bin/pw-scsi ] || [ tools/pw-scsi/pw-scsi.c -nt dist/bin/pw-scsi ]; then
  echo "== build dist/bin/pw-scsi"
  mkdir -p dist/bin
  # shellcheck disable=SC2046 # pkg-config prints separate flags
  gcc -O2 -Wall -Wextra -std=gnu11 -o dist/bin/pw-scsi.tmp tools/pw-scsi/pw-scsi.c $(pkg-config --cflags --libs libiscsi)
  mv dist/bin/pw-scsi.tmp dist/bin/pw-scsi
fi
# pw-verify: the write verifier (sequence-stamped writes across path changes, then a read-back check).
if [ ! -x dist/bin/pw-verify ] || [ tools/pw-verify/pw-verify.c -nt dist/bin/pw-verify ]; then
  echo "== build dist/bin/pw-verify"
  mkdir -p dist/bin
  # shellcheck disable=SC2046 # pkg-config prints separate flags
  gcc -O2 -Wall -Wextra -std=gnu11 -o dist/bin/pw-verify.tmp tools/pw-verify/pw-verify.c $(pkg-config --cflags --libs libiscsi)
  mv dist/bin/pw-verify.tmp dist/bin/pw-verify
fi
echo "== setup done"
