#!/usr/bin/env bash
# Runs every test: static checks, unit tests, integration tests against real tgtd / etcd / Ceph,
# fault tests (real processes killed by PID), browser tests against the real product. Tests start and
# stop the services they need. Every stage runs even when an earlier one failed, so one run shows every
# failure; the exit status is non-zero if any stage failed.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
failed=()
stage() {
  local name=$1; shift
  echo "== $name"
  local t0=$SECONDS
  if "$@"; then echo "== $name: passed in $((SECONDS - t0)) s"
  else echo "== $name: FAILED after $((SECONDS - t0)) s"; failed+=("$name"); fi
}
stage "typecheck, lint and formatting" bash -c 'npm run --silent typecheck && npm run --silent check'
stage "unit tests" npm run --silent test:unit
stage "integration tests (real tgtd, etcd, Ceph)" npm run --silent test:integration
stage "fault tests (real processes killed by PID; docs/RELIABILITY.md)" npm run --silent test:reliability
stage "browser tests (real chromium)" npm run --silent test:e2e
if ((${#failed[@]})); then
  printf '== FAILED stages:\n'; printf '   %s\n' "${failed[@]}"
  exit 1
fi
echo "== all tests passed"
