// calhook's receiver exactly as apps/receiver/src/role.ts wires it, but with one Queue.add per
// delivery (batchEnqueue: false): bench/receiver.ts runs it beside the real server to show what
// the enqueue batcher is worth in the same run.
//   same env as apps/receiver/src/server.ts

import { buildReceiverApp } from '../../apps/receiver/src/app.ts';
import { loadConfigOrExit } from '../../packages/config/src/index.ts';
import { createSealer } from '../../packages/crypto/src/index.ts';
import { createDatabase } from '../../packages/db/src/index.ts';
import { createLogger, createMetrics } from '../../packages/observability/src/index.ts';
import { createProducerRedis, createQueues } from '../../packages/queue/src/index.ts';
import { createHookKeyResolver } from '../../packages/webhooks/src/index.ts';

const config = loadConfigOrExit(process.env, ['receiver']);
const logger = createLogger({ ...config.log, name: 'calhook-receiver' });
const database = createDatabase(config.databaseUrl, { max: 10, applicationName: 'bench' });
const redis = createProducerRedis(config.redisUrl);
const queues = createQueues(redis, config.queuePrefix);
const app = buildReceiverApp({
  logger: logger.child({ role: 'receiver' }),
  hooks: createHookKeyResolver({
    db: database.db,
    sealer: createSealer(config.encryptionKeys),
    appSigningKey: config.calendly.webhookSigningKey,
    gracePeriodMs: config.hookGracePeriodMs,
  }),
  queues,
  toleranceSeconds: config.webhookToleranceSeconds,
  metrics: createMetrics(),
  checkReady: async () => {},
  batchEnqueue: false,
});
await app.listen({ host: config.host, port: config.receiverPort });
process.on('SIGTERM', () => {
  app
    .close()
    .then(() => queues.close())
    .then(() => database.close())
    .then(() => process.exit(0));
});
