// Proves the api's /metrics reads the database counts at most once per 10 s: scrapes in a row or
// at once share one read of the real database, a later scrape reads again, and a failed read
// is not kept.
import { randomBytes } from 'node:crypto';
import { createSealer } from '@calhook/crypto';
import type { DatabaseHandle } from '@calhook/db';
import { createLogger, createMetrics, type Metrics } from '@calhook/observability';
import { seedConnectionWithHook, testDatabase } from '@calhook/testing';
import { createHookIds } from '@calhook/webhooks';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApiApp } from '../src/app.ts';

const key = randomBytes(32);
const secrets = { sealer: createSealer([key]), hookIds: createHookIds([key]) };
const clock = { ms: Date.parse('2026-12-03T09:00:00Z') };
let database: DatabaseHandle;
let app: FastifyInstance;
/** Reads of the database counts the api made (each is three count statements). */
let reads = 0;
let failNextRead = false;

/** The metrics the api is given, with its counts function wrapped to count real reads. */
function countingMetrics(): Metrics {
  const metrics = createMetrics({ processMetrics: false, now: () => clock.ms });
  const observe = metrics.observeDatabase.bind(metrics);
  metrics.observeDatabase = (count) =>
    observe(async () => {
      reads += 1;
      if (failNextRead) {
        failNextRead = false;
        throw new Error('database unreachable');
      }
      return count();
    });
  return metrics;
}

beforeAll(() => {
  database = testDatabase();
  app = buildApiApp({
    logger: createLogger({ level: 'silent' }),
    db: database.db,
    apiToken: 'metrics-cache-token-0123',
    checkReady: async () => {},
    metrics: countingMetrics(),
  });
});

afterAll(async () => {
  await app.close();
  await database.close();
});

function sample(text: string, line: RegExp): number {
  const match = line.exec(text);
  return match ? Number(match[1]) : Number.NaN;
}
const activeConnections = (text: string) =>
  sample(text, /^calhook_connections\{status="active"\} (\S+)$/m);
const databaseUp = (text: string) =>
  sample(text, /^calhook_metrics_source_up\{source="database"\} (\S+)$/m);

async function scrape(): Promise<string> {
  const response = await app.inject({ url: '/metrics' });
  expect(response.statusCode).toBe(200);
  return response.body;
}

describe('/metrics database counts', () => {
  it('are read once for scrapes within 10 s, and again after', async () => {
    await seedConnectionWithHook(database.db, secrets);
    const start = reads;
    const first = await scrape();
    clock.ms += 5_000;
    const second = await scrape();
    expect(reads - start).toBe(1);
    expect(activeConnections(first)).toBeGreaterThanOrEqual(1);
    expect(activeConnections(second)).toBe(activeConnections(first));

    // Two scrapes at the same moment share the one read in flight.
    clock.ms += 5_000;
    const [third, fourth] = await Promise.all([scrape(), scrape()]);
    expect(reads - start).toBe(2);
    expect(activeConnections(third)).toBeGreaterThanOrEqual(1);
    expect(activeConnections(fourth)).toBe(activeConnections(third));
  });

  it('reads again on the next scrape after a failed read', async () => {
    clock.ms += 60_000;
    failNextRead = true;
    const start = reads;
    expect(databaseUp(await scrape())).toBe(0);
    expect(databaseUp(await scrape())).toBe(1);
    expect(reads - start).toBe(2);
  });
});
