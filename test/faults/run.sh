#!/bin/sh
# The fault suite (`pnpm test:faults`, run by CI after `npm test`): real processes under
# crashes, outages and hostile input. Same Postgres/Redis choice as scripts/test.sh. Ends with
# one line, `faults: N passed, N failed`.
set -eu
cd "$(dirname "$0")/../.."

. scripts/test-env.sh
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null || { echo "faults: $tool is required on PATH" >&2; exit 1; }
done

mkdir -p test-artifacts
rm -f test-artifacts/faults.json
status=0
vitest run --project faults --reporter=default --reporter=json \
  --outputFile.json=test-artifacts/faults.json "$@" || status=$?
node scripts/test-summary.ts test-artifacts/faults.json faults || status=1
exit "$status"
