// Proves a job's queue comes from the catalog alone: sharded jobs go to the shard of their
// connection, by a hash that is pinned (receivers and workers of different versions must agree)
// and spreads connections evenly; one shard keeps the queue names every earlier version used.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  APP_WEBHOOK_ATTEMPTS,
  allQueueNames,
  backoffStrategies,
  jobOptions,
  jobQueueName,
  type QueuedDelivery,
  shardOf,
} from './catalog.ts';

const delivery = (connectionId: string): QueuedDelivery => ({
  hookId: 'h',
  connectionId,
  body: '{}',
  receivedAt: '2026-12-03T10:00:00.000Z',
});

describe('shards', () => {
  it('names every queue, shard 0 keeping the plain name', () => {
    expect(allQueueNames(1)).toEqual(['events', 'connections', 'reconcile', 'webhooks']);
    expect(allQueueNames(3)).toEqual([
      'events',
      'events-1',
      'events-2',
      'connections',
      'reconcile',
      'webhooks',
    ]);
  });

  it('picks a shard by a pinned hash of the connection', () => {
    // FNV-1a 32: changing it would send a connection's retries to another shard mid-flight.
    expect(shardOf('', 1_000_003)).toBe(0x811c9dc5 % 1_000_003);
    expect(shardOf('a', 2 ** 31)).toBe(0xe40c292c % 2 ** 31);
    expect(shardOf('3f0c2a4e-5b7d-4c1e-9a8f-0123456789ab', 1)).toBe(0);
    const id = randomUUID();
    expect(shardOf(id, 7)).toBe(shardOf(id, 7));
  });

  it('spreads connections evenly', () => {
    const counts = [0, 0, 0];
    for (let i = 0; i < 30_000; i++) {
      const shard = shardOf(randomUUID(), 3);
      counts[shard] = (counts[shard] ?? 0) + 1;
    }
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(600);
  });

  it('sends ingest jobs to the shard of their connection, other jobs to their queue', () => {
    const id = randomUUID();
    const shard = shardOf(id, 3);
    const name = shard === 0 ? 'events' : `events-${shard}`;
    expect(jobQueueName('ingest-deliveries', { deliveries: [delivery(id)] }, 3)).toBe(name);
    expect(jobQueueName('ingest-event', delivery(id), 3)).toBe(name);
    expect(jobQueueName('ingest-deliveries', { deliveries: [delivery(id)] }, 1)).toBe('events');
    expect(jobQueueName('refresh-token', { connectionId: id }, 3)).toBe('connections');
    expect(jobQueueName('reconcile-all', {}, 3)).toBe('reconcile');
  });
});

describe('app webhook deliveries', () => {
  const strategy = backoffStrategies['app-webhook'] as (
    attemptsMade: number,
    data: unknown,
  ) => number;
  const backoff = (attemptsMade: number) => strategy(attemptsMade, {});

  it('retry first within 10 s, then within 60 s, then growing, for more than 24 h', () => {
    expect(backoff(1)).toBeLessThanOrEqual(10_000);
    expect(backoff(2)).toBeLessThanOrEqual(60_000);
    const delays = Array.from({ length: APP_WEBHOOK_ATTEMPTS - 1 }, (_, i) => backoff(i + 1));
    for (let i = 1; i < delays.length; i++) {
      expect(delays[i]).toBeGreaterThanOrEqual(delays[i - 1] as number);
    }
    expect(delays.reduce((a, b) => a + b, 0)).toBeGreaterThan(24 * 3_600_000);
  });

  it("retry a run's failed change on the same schedule, counted from the run's attempt", () => {
    // The run's attempt fails at 0; its retry job is queued due after the first retry's delay,
    // and each failure of that job waits as the schedule says for the retry it is.
    const retried = { priorAttempts: 1 };
    const due = [backoff(1)];
    for (let made = 1; made < APP_WEBHOOK_ATTEMPTS; made++) {
      due.push((due.at(-1) as number) + strategy(made, retried));
    }
    expect(due[0]).toBeLessThanOrEqual(10_000);
    expect(due[1]).toBeLessThanOrEqual(60_000);
    expect(strategy(1, retried)).toBe(backoff(2));
    expect(strategy(2, retried)).toBe(backoff(3));
    expect(due.at(-1)).toBeGreaterThan(24 * 3_600_000);
  });

  it('go in runs of consecutive changes, each run once per endpoint and span', () => {
    const span = { after: 'c2.MS4x', through: 'c2.MS4xMDA' };
    const run = jobOptions('deliver-webhooks', { endpointId: 'we_a', ...span });
    expect(run.jobId).toBe('whb-we_a-c2.MS4x-c2.MS4xMDA');
    expect(jobOptions('deliver-webhooks', { endpointId: 'we_a', ...span }).jobId).toBe(run.jobId);
    expect(jobOptions('deliver-webhooks', { endpointId: 'we_b', ...span }).jobId).not.toBe(
      run.jobId,
    );
    expect(
      jobOptions('deliver-webhooks', { endpointId: 'we_a', ...span, through: 'c2.MS41MA' }).jobId,
    ).not.toBe(run.jobId);
  });

  it('are one job per endpoint and change, and one more per replay', () => {
    const change = {
      id: 'chg_1',
      cursor: 'c1.x',
      type: 'meeting.created',
      occurredAt: '2026-12-03T10:00:00.000Z',
      userId: 'u1',
      data: {},
    };
    const first = jobOptions('deliver-webhook', { endpointId: 'we_a', change });
    expect(first.jobId).toBe('wh-we_a-chg_1');
    expect(jobOptions('deliver-webhook', { endpointId: 'we_a', change }).jobId).toBe(first.jobId);
    expect(jobOptions('deliver-webhook', { endpointId: 'we_b', change }).jobId).not.toBe(
      first.jobId,
    );
    expect(
      jobOptions('deliver-webhook', { endpointId: 'we_a', change, replayId: 'r1' }).jobId,
    ).toBe('wh-we_a-chg_1-r1');
    expect(jobQueueName('deliver-webhook', { endpointId: 'we_a', change }, 3)).toBe('webhooks');
  });
});
