#!/bin/sh
# The whole test suite: lint, types, then unit, integration and e2e tests on real Postgres and
# Redis. Run through `pnpm test` / `npm test`, which put the toolchain on PATH first.
#
# Postgres and Redis: DATABASE_URL / REDIS_URL when set; otherwise testcontainers when a
# Docker engine answers; otherwise the local servers on their default ports.
set -eu
cd "$(dirname "$0")/.."

if [ -z "${DATABASE_URL:-}" ] || [ -z "${REDIS_URL:-}" ]; then
  if ! docker info >/dev/null 2>&1; then
    : "${DATABASE_URL:=postgres://postgres@127.0.0.1:5432/postgres}"
    : "${REDIS_URL:=redis://127.0.0.1:6379}"
    export DATABASE_URL REDIS_URL
    echo "test: no Docker engine; using Postgres at $DATABASE_URL and Redis at $REDIS_URL" >&2
  fi
fi

echo "test: lint (biome)"
biome check .
echo "test: types (tsc)"
tsc -p tsconfig.json
mkdir -p test-artifacts
status=0
vitest run --reporter=default --reporter=json --outputFile.json=test-artifacts/vitest.json "$@" || status=$?
node scripts/test-summary.ts test-artifacts/vitest.json || true
exit "$status"
