#!/usr/bin/env bash
# Runs every test: static checks, unit tests, integration tests against real tgtd / etcd / Ceph,
# fault tests (real processes killed by PID), browser tests against the real product. Tests start and
# stop the services they need.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck and lint"
npm run --silent typecheck
npm run --silent lint
echo "== unit tests"
npm run --silent test:unit
echo "== integration tests (real tgtd, etcd, Ceph)"
npm run --silent test:integration
echo "== fault tests (real processes killed by PID; docs/RELIABILITY.md)"
npm run --silent test:reliability
echo "== browser tests (real chromium)"
npm run --silent test:e2e
echo "== all tests passed"
