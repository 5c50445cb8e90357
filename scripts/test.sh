#!/bin/sh
# The whole test suite: lint, types, then unit, integration and e2e tests on real Postgres and
# Redis. Run through `pnpm test` / `npm test`, which put the toolchain on PATH first.
# Postgres and Redis: see scripts/test-env.sh.
set -eu
cd "$(dirname "$0")/.."

. scripts/test-env.sh

echo "test: lint (biome)"
biome check .
echo "test: types (tsc)"
tsc -p tsconfig.json
mkdir -p test-artifacts
rm -f test-artifacts/vitest.json
status=0
# The fault suite (project faults) runs on its own: `pnpm test:faults`, after this in CI.
vitest run --project unit --project integration --project e2e \
  --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
node scripts/test-summary.ts test-artifacts/vitest.json tests || status=1
exit "$status"
