// Starts calhook's real roles (worker, receiver, api) against the Calendly simulator, real
// Postgres and Redis, on free ports, with a queue prefix of their own: the world the
// connection and reconcile tests drive over HTTP.
import { randomBytes } from 'node:crypto';
import { startApi } from '@calhook/api-app';
import {
  type SimUser,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '@calhook/calendly-simulator';
import { type Config, loadConfig } from '@calhook/config';
import { buildConnectionServices, type Connections } from '@calhook/connections';
import type { Sealer } from '@calhook/crypto';
import { connectionRepo, createDatabase, type DatabaseHandle } from '@calhook/db';
import { createLogger, type Logger, type Metrics } from '@calhook/observability';
import {
  createProducerRedis,
  createQueues,
  type Queues,
  type RedisConnection,
} from '@calhook/queue';
import { buildReceiverApp, startReceiver } from '@calhook/receiver-app';
import { callApi, eventually, freePort, testUrls, uniqueId } from '@calhook/testing';
import { createHookKeyResolver, type HookIds } from '@calhook/webhooks';
import { startWorker, type WorkerOptions } from '@calhook/worker-app';
import type { FastifyInstance } from 'fastify';

export interface Harness {
  sim: Simulator;
  config: Config;
  env: Record<string, string>;
  apiUrl: string;
  receiverUrl: string;
  database: DatabaseHandle;
  queues: Queues;
  /** Calls the API with the bearer token; JSON in and out. */
  api(
    method: string,
    path: string,
    body?: unknown,
    // biome-ignore lint/suspicious/noExplicitAny: tests read response fields freely and assert them with expect
  ): Promise<{ status: number; body: any; headers: Headers }>;
  /**
   * A new simulator user connected through the API with OAuth tokens, once its first-connect
   * import has finished, so a test starts from a quiet state.
   */
  connectNewUser(): Promise<{
    user: SimUser;
    userId: string;
    connectionId: string;
    subscriptionUri: string;
  }>;
  stopReceiver(): Promise<void>;
  /** Stops the worker (finishing its jobs in flight) and starts a new one on the same config. */
  restartWorker(): Promise<void>;
  /** Starts the receiver again on the same port (same PUBLIC_URL). */
  startReceiver(): Promise<void>;
  /**
   * A connection service of the test's own on the same database and simulator, with options
   * the running roles do not take (another PUBLIC_URL, a chosen hook id).
   */
  connectionService(options: { publicUrl?: string; newHookId?: () => string }): Connections;
  close(): Promise<void>;
}

export async function startHarness(
  options: {
    simulator?: SimulatorOptions;
    env?: Record<string, string>;
    logger?: Logger;
    worker?: Pick<WorkerOptions, 'appWebhookClock'>;
  } = {},
): Promise<Harness> {
  const sim = await startSimulator({ logger: false, ...options.simulator });
  const receiverPort = await freePort();
  const apiPort = await freePort();
  const { databaseUrl, redis: redisTarget, redisEnv } = testUrls();
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    ...redisEnv,
    QUEUE_PREFIX: uniqueId('h'),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    API_TOKEN: randomBytes(18).toString('base64url'),
    PUBLIC_URL: `http://127.0.0.1:${receiverPort}`,
    API_PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
    CALENDLY_API_URL: sim.url,
    CALENDLY_AUTH_URL: sim.url,
    CALENDLY_CLIENT_ID: 'sim-client-id',
    CALENDLY_CLIENT_SECRET: 'sim-client-secret',
    CALENDLY_WEBHOOK_SIGNING_KEY: 'sim-app-signing-key',
    LOG_LEVEL: 'silent',
    // Integration files share one database: a worker that swept it on a short cycle would
    // reconcile other files' connections against its own simulator. A test of the schedule
    // sets its own cycle (and database).
    RECONCILE_EVERY: '3650d',
    ...options.env,
  };
  const config = loadConfig(env);
  const logger = options.logger ?? createLogger({ level: 'silent' });
  let worker = await startWorker(config, logger, { ...options.worker, port: 0 });
  let receiver: Awaited<ReturnType<typeof startReceiver>> | null = await startReceiver(
    config,
    logger,
    {
      port: receiverPort,
    },
  );
  const api = await startApi(config, logger, { port: apiPort });
  // The roles' database: the test run's, or one the test chose with DATABASE_URL.
  const database = createDatabase(config.databaseUrl, { max: 5, applicationName: 'calhook-test' });
  const redis: RedisConnection = createProducerRedis(redisTarget);
  const queues = createQueues(redis, config.queuePrefix, { shards: config.queueShards });
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const clients: { close(): Promise<void> }[] = [];

  return {
    sim,
    config,
    env,
    apiUrl,
    receiverUrl: `http://127.0.0.1:${receiverPort}`,
    database,
    queues,
    api: (method, path, body) => callApi(apiUrl, env.API_TOKEN as string, method, path, body),
    async connectNewUser() {
      const user = await sim.control.createUser({ email: `${uniqueId('adviser')}@example.com` });
      const userId = uniqueId('u');
      const set = await sim.control.issueTokens(user.uri);
      const response = await callApi(
        apiUrl,
        env.API_TOKEN as string,
        'PUT',
        `/v1/connections/${userId}`,
        {
          accessToken: set.access_token,
          refreshToken: set.refresh_token,
          expiresAt: new Date(Date.now() + set.expires_in * 1000).toISOString(),
        },
      );
      if (response.status !== 200) throw new Error(`connect answered ${response.status}`);
      const row = await connectionRepo.findByUser(database.db, userId);
      if (!row) throw new Error('no connection row after connect');
      await eventually(
        async () => Boolean((await connectionRepo.findById(database.db, row.id))?.lastBackfilledAt),
        { what: 'the first-connect backfill' },
      );
      const body = response.body as { webhook: { subscriptionUri: string } };
      return { user, userId, connectionId: row.id, subscriptionUri: body.webhook.subscriptionUri };
    },
    async restartWorker() {
      await worker.close();
      worker = await startWorker(config, logger, { ...options.worker, port: 0 });
    },
    async stopReceiver() {
      await receiver?.close();
      receiver = null;
    },
    connectionService(overrides) {
      const services = buildConnectionServices({
        config: { ...config, publicUrl: overrides.publicUrl ?? config.publicUrl },
        db: database.db,
        queues,
        logger,
        newHookId: overrides.newHookId,
      });
      clients.push(services);
      return services.connections;
    },
    async startReceiver() {
      receiver ??= await startReceiver(config, logger, { port: receiverPort });
    },
    async close() {
      await api.close();
      await receiver?.close();
      await worker.close();
      for (const queue of queues.all()) await queue.obliterate({ force: true }).catch(() => {});
      await queues.close();
      redis.disconnect();
      await Promise.all(clients.map((client) => client.close()));
      await database.close();
      await sim.close();
    },
  };
}

/**
 * The receiver app in this process, as the in-process pipeline tests build it: hook keys from
 * the database with no grace period, a 180 s signature tolerance, always ready.
 */
export function inProcessReceiver(deps: {
  db: DatabaseHandle['db'];
  sealer: Sealer;
  hookIds: HookIds;
  queues: Queues;
  logger: Logger;
  appSigningKey?: string | undefined;
  metrics?: Metrics;
}): FastifyInstance {
  return buildReceiverApp({
    logger: deps.logger,
    hooks: createHookKeyResolver({
      db: deps.db,
      sealer: deps.sealer,
      hookIds: deps.hookIds,
      appSigningKey: deps.appSigningKey,
      gracePeriodMs: 0,
    }),
    queues: deps.queues,
    toleranceSeconds: 180,
    retryAfterSeconds: 5,
    checkReady: async () => {},
    ...(deps.metrics ? { metrics: deps.metrics } : {}),
  });
}

/** Tears down what an in-process pipeline test built, workers first, its queues emptied. */
export async function closeInProcess(parts: {
  pool: { close(): Promise<void> };
  receiver: FastifyInstance;
  api: FastifyInstance;
  queues: Queues;
  producer: RedisConnection;
  database: DatabaseHandle;
}): Promise<void> {
  await parts.pool.close();
  await parts.receiver.close();
  await parts.api.close();
  for (const queue of parts.queues.all()) await queue.obliterate({ force: true });
  await parts.queues.close();
  parts.producer.disconnect();
  await parts.database.close();
}
