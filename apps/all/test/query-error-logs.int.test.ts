// Proves a failed database query is logged without its bound values: drizzle's real
// DrizzleQueryError over a real Postgres error, logged the ways the worker logs job failures,
// keeps the statement and Postgres's reason but never the delivery body it was inserting.
import { randomUUID } from 'node:crypto';
import { type DatabaseHandle, eventInbox } from '@calhook/db';
import { createLogger, withheldError } from '@calhook/observability';
import {
  createQueues,
  createWorkers,
  jobCatalog,
  type Processor,
  type ProcessorMap,
} from '@calhook/queue';
import { captureLogs, eventually, testDatabase, testRedis, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let database: DatabaseHandle;

beforeAll(() => {
  database = testDatabase();
});

afterAll(async () => {
  await database.close();
});

/** A real DrizzleQueryError over a real Postgres error, its parameters holding a delivery. */
async function failedInsert(): Promise<unknown> {
  const body = JSON.stringify({
    event: 'invitee.created',
    payload: { email: 'grace.hopper@example.com', name: 'Grace Hopper' },
  });
  // No such connection: the foreign key refuses the row.
  return database.db
    .insert(eventInbox)
    .values({
      contentHash: randomUUID(),
      hookId: 'hook-in-log-test',
      connectionId: randomUUID(),
      body,
      receivedAt: new Date(),
    })
    .then(
      () => undefined,
      (e: unknown) => e,
    );
}

describe('a failed query in the logs', () => {
  it('names the statement and the reason, and withholds the parameters', async () => {
    const error = await failedInsert();
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toContain('Grace Hopper');

    const logs = captureLogs();
    const logger = createLogger({ level: 'trace', destination: logs.destination });
    logger.child({ job: 'ingest-event' }).warn({ err: error }, 'job failed, will retry');
    logger.error(error);

    const text = logs.text();
    expect(text).not.toContain('grace.hopper');
    expect(text).not.toContain('Grace Hopper');
    const [line] = logs.lines() as { err: Record<string, string> }[];
    expect(line?.err.query).toMatch(/^insert into "event_inbox"/);
    expect(line?.err.params).toMatch(/^\[\d+ values withheld\]$/);
    expect(line?.err.message).toContain('violates foreign key constraint');
  });
});

describe('a failed query in Redis', () => {
  it("is stored as the job's failed reason and stack without its parameters", async () => {
    const prefix = uniqueId('qerr');
    const producer = testRedis();
    const queues = createQueues(producer, prefix);
    const fail: Processor<never> = async () => {
      throw await failedInsert();
    };
    const workers = createWorkers({
      prefix,
      queues: ['events'],
      logger: createLogger({ level: 'silent' }),
      connection: testRedis,
      scrubError: withheldError,
      processors: Object.fromEntries(
        Object.keys(jobCatalog).map((name) => [name, fail]),
      ) as ProcessorMap,
    });
    try {
      const job = await queues.get('events').add(
        'ingest-event',
        {
          hookId: 'h',
          connectionId: randomUUID(),
          body: '{}',
          receivedAt: new Date().toISOString(),
        },
        { attempts: 1 },
      );
      const failed = await eventually(
        async () => {
          const state = await queues.get('events').getJob(job.id as string);
          return state?.failedReason ? state : undefined;
        },
        { what: 'the job to fail' },
      );
      const stored = JSON.stringify({ reason: failed.failedReason, stack: failed.stacktrace });
      expect(stored).not.toContain('Grace Hopper');
      expect(stored).not.toContain('grace.hopper');
      expect(failed.failedReason).toMatch(/^Failed query: insert into "event_inbox"/);
      expect(failed.failedReason).toMatch(/params: \[\d+ values withheld\]/);
    } finally {
      await workers.close();
      for (const queue of queues.all()) await queue.obliterate({ force: true });
      await queues.close();
      producer.disconnect();
    }
  });
});
