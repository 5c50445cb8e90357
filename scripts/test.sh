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
projects="--project unit --project integration --project e2e"
# The Redis path once more on a Redis Cluster its set-up starts (test/cluster-setup.ts), which
# needs redis-server and redis-cli. CI must have them; elsewhere the project is skipped, loudly.
if command -v redis-server >/dev/null && command -v redis-cli >/dev/null; then
  projects="$projects --project cluster"
elif [ -n "${CI:-}" ]; then
  echo "test: redis-server and redis-cli are required on PATH (the cluster project)" >&2
  exit 1
else
  echo "test: redis-server/redis-cli not on PATH: SKIPPING the cluster project" >&2
fi
# The fault suite (project faults) runs on its own: `pnpm test:faults`, after this in CI.
# shellcheck disable=SC2086 # $projects is a list of arguments
vitest run $projects \
  --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
node scripts/test-summary.ts test-artifacts/vitest.json tests || status=1
exit "$status"
