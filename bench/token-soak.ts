// Token soak: many connections with short-lived tokens, refreshed by refresh-token jobs in two
// worker instances while a third instance makes authenticated API calls for random
// connections. Passes when no connection ends reauth_required and no call met a 401.
//
//   node bench/token-soak.ts                              # 100 connections, 10 s tokens, 10 min
//   node bench/token-soak.ts --duration=30 --connections=20   # a smoke run
//
// Env (or --flags): DATABASE_URL (a server; the soak creates and drops its own database),
// REDIS_URL or REDIS_CLUSTER_NODES, SOAK_CONNECTIONS, SOAK_DURATION_S, SOAK_TOKEN_LIFETIME_S, SOAK_LEAD_MS,
// SOAK_API_RPS.
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { refreshTokenProcessor } from '../apps/worker/src/processors/refresh-token.ts';
import {
  createCalendlyClient,
  hasKind,
  tokenResponseSchema,
  toTokenSet,
} from '../packages/calendly/src/index.ts';
import { startSimulator } from '../packages/calendly-simulator/src/index.ts';
import { createSealer } from '../packages/crypto/src/index.ts';
import { connectionRepo, createDatabase, migrateDatabase } from '../packages/db/src/index.ts';
import { createLogger } from '../packages/observability/src/index.ts';
import {
  createQueues,
  createWorkerRedis,
  createWorkers,
  jobCatalog,
  PermanentJobError,
  type Processor,
  type ProcessorMap,
} from '../packages/queue/src/index.ts';
import { createTokenService, type TokenService } from '../packages/tokens/src/index.ts';
import { redisTarget } from './lib.ts';

const { values: flags } = parseArgs({
  options: {
    connections: { type: 'string' },
    duration: { type: 'string' },
    lifetime: { type: 'string' },
    lead: { type: 'string' },
    rps: { type: 'string' },
  },
});

function setting(flag: string | undefined, env: string, fallback: number): number {
  const raw = flag ?? process.env[env];
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${env} must be a positive number`);
  return value;
}

const CONNECTIONS = setting(flags.connections, 'SOAK_CONNECTIONS', 100);
const DURATION_S = setting(flags.duration, 'SOAK_DURATION_S', 600);
const LIFETIME_S = setting(flags.lifetime, 'SOAK_TOKEN_LIFETIME_S', 10);
const LEAD_MS = setting(flags.lead, 'SOAK_LEAD_MS', 3_000);
const API_RPS = setting(flags.rps, 'SOAK_API_RPS', 50);
const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const logger = createLogger({ level: 'silent' });
const databaseUrl = new URL(serverUrl);
databaseUrl.pathname = `/calhook_soak_${randomBytes(4).toString('hex')}`;
await migrateDatabase(databaseUrl.toString());

// Calendly allows 8 token requests per user per minute with 2-hour tokens; with 10-second
// tokens a healthy connection needs ~10, so the compressed timeline raises the limit.
const sim = await startSimulator({
  accessTokenLifetimeSeconds: LIFETIME_S,
  tokenRequestsPerMinute: 120,
});
const sealer = createSealer([randomBytes(32)]);
const prefix = `soak${randomBytes(4).toString('hex')}`;
const counts = { refreshes: 0, invalidGrant: 0, transient: 0, unknown: 0 };

/** One process's worth of token machinery: its own pool, Redis, Calendly client and service. */
function instance(name: string) {
  const handle = createDatabase(databaseUrl.toString(), { max: 10, applicationName: name });
  const redis = createWorkerRedis(redisTarget);
  const queues = createQueues(redis, prefix);
  const calendly = createCalendlyClient({
    apiUrl: sim.url,
    authUrl: sim.url,
    clientId: 'sim-client-id',
    clientSecret: 'sim-client-secret',
  });
  const tokens = createTokenService({
    db: handle.db,
    sealer,
    calendly,
    queues,
    refreshBeforeExpiryMs: LEAD_MS,
    expiryMarginMs: 1_000,
    logger,
    onRefresh: (outcome) => {
      if (outcome === 'success') counts.refreshes++;
      else if (outcome === 'invalid_grant') counts.invalidGrant++;
      else counts[outcome]++;
    },
  });
  return {
    handle,
    calendly,
    tokens,
    queues,
    async close() {
      await queues.close();
      await redis.quit();
      await calendly.close();
      await handle.close();
    },
  };
}

function workersFor(tokens: TokenService) {
  const notHere: Processor<never> = async () => {
    throw new PermanentJobError('not part of the token soak');
  };
  return createWorkers({
    prefix,
    queues: ['connections'],
    logger,
    connection: () => createWorkerRedis(redisTarget),
    concurrency: { connections: 20 },
    processors: {
      ...(Object.fromEntries(Object.keys(jobCatalog).map((n) => [n, notHere])) as ProcessorMap),
      'refresh-token': refreshTokenProcessor({ tokens }),
    },
  });
}

const api = instance('soak-api');
const workerA = instance('soak-worker-a');
const workerB = instance('soak-worker-b');

// Connect every user as the connect flow would: tokens stored, first refresh scheduled.
const ids: string[] = [];
for (let i = 0; i < CONNECTIONS; i++) {
  const user = await sim.control.createUser();
  const raw = await sim.control.issueTokens(user.uri, { lifetimeSeconds: LIFETIME_S });
  const set = toTokenSet(tokenResponseSchema.parse(raw), Date.now());
  const row = await connectionRepo.connectUser(
    api.handle.db,
    `soak-${prefix}-${i}`,
    { calendlyUserUri: user.uri, organizationUri: user.organizationUri },
    new Date(),
  );
  await api.tokens.storeTokens(api.handle.db, row.id, set);
  await api.tokens.scheduleRefresh(row.id);
  ids.push(row.id);
}
const tokenRequestsBefore = (await sim.control.tokenRequests()).length;

const workers = [workersFor(workerA.tokens), workersFor(workerB.tokens)];
const started = Date.now();
const deadline = started + DURATION_S * 1000;
const calls = { made: 0, ok: 0, unauthorized: 0, failed: 0, failures: new Map<string, number>() };

async function apiLoop(everyMs: number) {
  while (Date.now() < deadline) {
    const tick = Date.now();
    const id = ids[Math.floor(Math.random() * ids.length)] as string;
    calls.made++;
    try {
      await api.tokens.withAccessToken(id, async (token) => {
        try {
          return await api.calendly.getCurrentUser(token);
        } catch (error) {
          if (hasKind(error, 'unauthenticated')) calls.unauthorized++;
          throw error;
        }
      });
      calls.ok++;
    } catch (error) {
      calls.failed++;
      const key = error instanceof Error ? error.name : 'unknown';
      calls.failures.set(key, (calls.failures.get(key) ?? 0) + 1);
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, everyMs - (Date.now() - tick))));
  }
}

const progress = setInterval(() => {
  const s = Math.round((Date.now() - started) / 1000);
  console.log(
    `[${s}s] refreshes ${counts.refreshes}, api calls ${calls.made} (401: ${calls.unauthorized}, failed: ${calls.failed})`,
  );
}, 30_000);
const loops = 10;
await Promise.all(Array.from({ length: loops }, () => apiLoop((1000 * loops) / API_RPS)));
clearInterval(progress);
const durationS = (Date.now() - started) / 1000;

await Promise.all(workers.map((w) => w.close()));
const tokenRequests = (await sim.control.tokenRequests()).slice(tokenRequestsBefore);
const rows = await api.handle.db.query.connections.findMany({
  columns: { status: true, refreshFailures: true },
});
const reauth = rows.filter((r) => r.status === 'reauth_required').length;

const summary = {
  connections: CONNECTIONS,
  durationS: Math.round(durationS),
  tokenLifetimeS: LIFETIME_S,
  refreshBeforeExpiryMs: LEAD_MS,
  refreshesDone: counts.refreshes,
  refreshOutcomes: counts,
  tokenRequestsAtSimulator: tokenRequests.length,
  tokenRequestsNotOk: tokenRequests.filter((r) => r.outcome !== 'ok').length,
  // Each token is refreshed lead + mean jitter before its expiry, itself ~0.5 s early on
  // average (Calendly's created_at is whole seconds).
  expectedRefreshesAbout:
    CONNECTIONS * Math.floor(durationS / (LIFETIME_S - (LEAD_MS * 1.1) / 1000 - 0.5)),
  reauthRequired: reauth,
  connectionsWithPendingFailures: rows.filter((r) => r.refreshFailures > 0).length,
  apiCalls: calls.made,
  apiCallsOk: calls.ok,
  apiCalls401: calls.unauthorized,
  apiCallsFailed: calls.failed,
  apiFailureKinds: Object.fromEntries(calls.failures),
};
console.log(JSON.stringify(summary, null, 2));

await Promise.all([api.close(), workerA.close(), workerB.close()]);
await sim.close();
// Drop the soak's own database.
const { default: postgres } = await import('postgres');
const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
await admin.unsafe(`drop database if exists "${databaseUrl.pathname.slice(1)}" with (force)`);
await admin.end({ timeout: 5 });

const passed = reauth === 0 && calls.unauthorized === 0 && calls.failed === 0;
console.log(passed ? 'PASS' : 'FAIL');
process.exit(passed ? 0 : 1);
