// Proves a failed database query is logged without its bound values: drizzle's real
// DrizzleQueryError over a real Postgres error, logged the ways the worker logs job failures,
// keeps the statement and Postgres's reason but never the delivery body it was inserting.
import { randomUUID } from 'node:crypto';
import { type DatabaseHandle, eventInbox } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { captureLogs, testDatabase } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let database: DatabaseHandle;

beforeAll(() => {
  database = testDatabase();
});

afterAll(async () => {
  await database.close();
});

describe('a failed query in the logs', () => {
  it('names the statement and the reason, and withholds the parameters', async () => {
    const body = JSON.stringify({
      event: 'invitee.created',
      payload: { email: 'grace.hopper@example.com', name: 'Grace Hopper' },
    });
    // No such connection: the foreign key refuses the row.
    const error = await database.db
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
