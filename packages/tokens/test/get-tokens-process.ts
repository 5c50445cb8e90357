// A second process for the race test: builds its own TokenService from the environment, waits
// for "go" on stdin, asks for the token of one connection CALLERS times at once and prints the
// answers as JSON. Run by token-race.int.test.ts with process.execPath.
import { createInterface } from 'node:readline';
import { createCalendlyClient } from '@calhook/calendly';
import { createSealer } from '@calhook/crypto';
import { createDatabase } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { createQueues } from '@calhook/queue';
import { Redis } from 'ioredis';
import { createTokenService } from '../src/index.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const handle = createDatabase(required('DATABASE_URL'), { max: 3, applicationName: 'tokens-race' });
const redis = new Redis(required('REDIS_URL'), { maxRetriesPerRequest: null });
const queues = createQueues(redis, required('QUEUE_PREFIX'));
const simUrl = required('SIM_URL');
const calendly = createCalendlyClient({
  apiUrl: simUrl,
  authUrl: simUrl,
  clientId: required('SIM_CLIENT_ID'),
  clientSecret: required('SIM_CLIENT_SECRET'),
});
const tokens = createTokenService({
  db: handle.db,
  sealer: createSealer([Buffer.from(required('ENCRYPTION_KEY'), 'base64')]),
  calendly,
  queues,
  refreshBeforeExpiryMs: 10 * 60_000,
  logger: createLogger({ level: 'silent' }),
});
const connectionId = required('CONNECTION_ID');
const callers = Number(process.env.CALLERS ?? '10');

// Touch the pool and Redis first, so "go" starts the calls and not the connecting.
await handle.sql`select 1`;
await redis.ping();
process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line.trim() === 'go') break;
}
const settled = await Promise.allSettled(
  Array.from({ length: callers }, () => tokens.getAccessToken(connectionId)),
);
process.stdout.write(
  `${JSON.stringify({
    tokens: settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])),
    errors: settled.flatMap((s) => (s.status === 'rejected' ? [String(s.reason)] : [])),
  })}\n`,
);
await queues.close();
await redis.quit();
await calendly.close();
await handle.close();
