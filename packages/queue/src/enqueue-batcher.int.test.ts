// Proves the enqueue batcher sends concurrent adds as one batch, resolves each only once Redis
// holds its job, queues a duplicate job id once, and rejects every caller when Redis is away.
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEnqueueBatcher } from './enqueue-batcher.ts';
import { createQueues } from './queues.ts';
import { createProducerRedis } from './redis.ts';

const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
afterAll(() => redis.quit());

const payload = (body: string) => ({
  hookId: 'hook-aaaaaaaaaaaaaaaa',
  connectionId: randomUUID(),
  body,
  receivedAt: new Date().toISOString(),
});

describe('createEnqueueBatcher', () => {
  it('adds concurrent jobs in one batch, each once, and resolves after Redis has them', async () => {
    const queues = createQueues(redis, `qb${randomBytes(4).toString('hex')}`);
    const batcher = createEnqueueBatcher(queues);
    const adds = Array.from({ length: 30 }, (_, i) =>
      batcher.enqueue('ingest-event', payload(`{"n":${i}}`), { jobId: `job-${i % 20}` }),
    );
    await Promise.all(adds);
    // Resolved means stored: every distinct id is in the queue right now, duplicates are not.
    const counts = await queues.get('events').getJobCounts('waiting');
    expect(counts.waiting).toBe(20);
    await queues.get('events').obliterate({ force: true });
    await queues.close();
  });

  it('rejects an invalid payload without sending anything', async () => {
    const queues = createQueues(redis, `qb${randomBytes(4).toString('hex')}`);
    const batcher = createEnqueueBatcher(queues);
    await expect(
      batcher.enqueue('ingest-event', { ...payload('{}'), connectionId: 'not-a-uuid' }),
    ).rejects.toThrow();
    expect((await queues.get('events').getJobCounts('waiting')).waiting).toBe(0);
    await queues.close();
  });

  it('rejects every caller of a batch when Redis does not answer', async () => {
    const dead = createProducerRedis('redis://127.0.0.1:1', { lazyConnect: true });
    dead.on('error', () => {});
    const queues = createQueues(dead, 'qbdead');
    const batcher = createEnqueueBatcher(queues);
    const results = await Promise.allSettled(
      [1, 2, 3].map((i) =>
        batcher.enqueue('ingest-event', payload(`{"n":${i}}`), { jobId: `d${i}` }),
      ),
    );
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    dead.disconnect();
  });
});
