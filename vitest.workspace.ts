// The one list of test projects. vitest.config.ts imports it (vitest 4+ no longer reads this
// file on its own). Each project is a kind of test, not a package: unit tests are pure and
// fast; integration, e2e and fault tests run against real Postgres and Redis (DATABASE_URL/REDIS_URL,
// else testcontainers) and the Calendly simulator over HTTP.
import type { TestProjectInlineConfiguration } from 'vitest/config';

const sources = ['packages/*/src/**', 'packages/*/test/**', 'apps/*/src/**', 'apps/*/test/**'];

/**
 * The integration and e2e tests of the path through Redis (receiver, queues, workers, Bull
 * Board, metrics, reconcile requests, the real processes) plus the Cluster's own: run a second
 * time, on a Redis Cluster the `cluster` project starts itself.
 */
const onCluster = [
  'apps/all/test/queue-layout.int.test.ts',
  'apps/receiver/test/receiver.int.test.ts',
  'apps/all/test/pipeline.int.test.ts',
  'apps/all/test/metrics.int.test.ts',
  'apps/all/test/traces.int.test.ts',
  'apps/all/test/reconcile-requests.int.test.ts',
  'apps/api/test/operator-surface.int.test.ts',
  'apps/api/test/admin-writes.int.test.ts',
  'test/e2e/start.e2e.test.ts',
  'test/e2e/admin.e2e.test.ts',
];

export const projects: TestProjectInlineConfiguration[] = [
  {
    test: {
      name: 'unit',
      // test/ops: the operator files in ops/ (alert rules, dashboard), checked with promtool.
      include: [...sources.map((s) => `${s}/*.test.ts`), 'test/ops/*.test.ts'],
      exclude: ['**/*.int.test.ts', '**/*.e2e.test.ts', '**/node_modules/**'],
    },
  },
  {
    test: {
      name: 'integration',
      include: sources.map((s) => `${s}/*.int.test.ts`),
      globalSetup: ['./test/global-setup.ts'],
      testTimeout: 30_000,
      hookTimeout: 60_000,
    },
  },
  {
    test: {
      name: 'e2e',
      include: ['test/e2e/**/*.e2e.test.ts'],
      globalSetup: ['./test/global-setup.ts'],
      testTimeout: 60_000,
      hookTimeout: 120_000,
      fileParallelism: false,
    },
  },
  {
    // The same tests on a 3-master Redis Cluster started by test/cluster-setup.ts, seeded at a
    // master that owns none of the queues' slots. One file at a time: e2e files start
    // processes, and the integration ones are short.
    test: {
      name: 'cluster',
      include: onCluster,
      globalSetup: ['./test/global-setup.ts', './test/cluster-setup.ts'],
      testTimeout: 60_000,
      hookTimeout: 120_000,
      fileParallelism: false,
    },
  },
  {
    // Real processes under crashes, outages and hostile input (`pnpm test:faults`, run by CI
    // after `npm test`). One file at a time: each drives thousands of deliveries on 2 cores.
    test: {
      name: 'faults',
      include: ['test/faults/**/*.faults.test.ts'],
      globalSetup: ['./test/global-setup.ts'],
      testTimeout: 240_000,
      hookTimeout: 120_000,
      fileParallelism: false,
    },
  },
];

export default projects;
