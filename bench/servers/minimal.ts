// Baseline 2 for bench/receiver.ts: the least a correct receiver must do. HMAC over the raw
// bytes with the hook's key (all keys loaded up front, no database) and one Queue.add per
// request with the same payload, job id and options calhook uses, answering after Redis has it.
//   PORT=4102 REDIS_URL=... QUEUE_PREFIX=... HOOKS_FILE=hooks.json node bench/servers/minimal.ts
// (REDIS_CLUSTER_NODES instead of REDIS_URL: the same on a Cluster, with calhook's key layout)
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Queue } from 'bullmq';
import Fastify from 'fastify';
import { createProducerRedis, jobCatalog, queuePrefix } from '../../packages/queue/src/index.ts';

interface Hook {
  hookId: string;
  connectionId: string;
  signingKey: string;
}
const hooks = new Map<string, Hook>(
  (JSON.parse(readFileSync(String(process.env.HOOKS_FILE), 'utf8')) as Hook[]).map((h) => [
    h.hookId,
    h,
  ]),
);
const redis = createProducerRedis(
  process.env.REDIS_CLUSTER_NODES
    ? { kind: 'cluster', nodes: process.env.REDIS_CLUSTER_NODES.split(',') }
    : { kind: 'single', url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
);
const queue = new Queue('events', {
  connection: redis,
  prefix: queuePrefix(process.env.QUEUE_PREFIX ?? 'calhook', 'events', redis.isCluster),
});
const options = jobCatalog['ingest-event'].options;

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_r, body, done) =>
  done(null, body),
);
app.post<{ Params: { hookId: string } }>('/webhooks/calendly/:hookId', async (request, reply) => {
  const hook = hooks.get(request.params.hookId);
  if (!hook) return reply.code(404).send({ error: 'unknown_hook' });
  const header = String(request.headers['calendly-webhook-signature'] ?? '');
  const t = /t=(\d+)/.exec(header)?.[1];
  const v1 = /v1=([0-9a-f]{64})/.exec(header)?.[1];
  const raw = request.body as Buffer;
  if (!t || !v1) return reply.code(401).send({ error: 'invalid_signature' });
  const expected = createHmac('sha256', hook.signingKey).update(`${t}.`).update(raw).digest();
  if (!timingSafeEqual(expected, Buffer.from(v1, 'hex'))) {
    return reply.code(401).send({ error: 'invalid_signature' });
  }
  const jobId = createHash('sha256').update(`${hook.connectionId}\n`).update(raw).digest('hex');
  await queue.add(
    'ingest-event',
    {
      hookId: hook.hookId,
      connectionId: hook.connectionId,
      body: raw.toString('utf8'),
      receivedAt: new Date().toISOString(),
    },
    { ...options, jobId },
  );
  return { status: 'accepted' };
});
app.get('/healthz', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 4102) });
process.on('SIGTERM', () => {
  app
    .close()
    .then(() => queue.close())
    .then(() => process.exit(0));
});
