// The real calhook processes of one fault scenario: receiver, worker and api spawned from their
// entry points (and the Calendly simulator's), on free ports, with a queue prefix of their own.
// Every child is tracked and killed when the scenario ends, passed or failed.
import { randomBytes } from 'node:crypto';
import { callApi, freePort, testUrls, uniqueId } from '@calhook/testing';
import type postgres from 'postgres';
import { afterAll, beforeAll } from 'vitest';
import { type Started, startEntry, waitReady } from '../../e2e/processes.ts';
import { openSql } from './check.ts';

export type Role = 'receiver' | 'worker' | 'api';

const entries: Record<Role, string> = {
  receiver: 'apps/receiver/src/server.ts',
  worker: 'apps/worker/src/server.ts',
  api: 'apps/api/src/server.ts',
};

const running = new Set<Started>();

// A test runner that dies mid-scenario must not leave calhook processes behind.
process.once('exit', () => {
  for (const started of running) started.child.kill('SIGKILL');
});

function track(started: Started): Started {
  running.add(started);
  started.child.once('exit', () => running.delete(started));
  return started;
}

/** SIGKILLs every process a scenario started and waits until each has exited. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((started) => hardKill(started)));
}

/** As a crash would: no shutdown hook runs. */
export function hardKill(started: Started): Promise<void> {
  return new Promise((resolve) => {
    if (started.child.exitCode !== null || started.child.signalCode !== null) return resolve();
    started.child.once('exit', () => resolve());
    started.child.kill('SIGKILL');
  });
}

export interface Simulator {
  url: string;
  process: Started;
}

/** The simulator's own entry point on a free port; ready once its control API answers. */
export async function startSimulatorProcess(env: Record<string, string> = {}): Promise<Simulator> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const started = track(
    startEntry('apps/simulator/src/main.ts', [], {
      PATH: process.env.PATH,
      SIM_PORT: String(port),
      ...env,
    }),
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (started.child.exitCode !== null) {
      throw new Error(`simulator exited early:\n${started.output()}`);
    }
    const answer = await fetch(`${url}/_sim/faults`).catch(() => null);
    if (answer?.ok) return { url, process: started };
    if (Date.now() > deadline) throw new Error(`simulator not ready:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface World {
  env: Record<string, string>;
  receiverUrl: string;
  apiUrl: string;
  workerUrl: string;
  /** The running process of each role. */
  process(role: Role): Started;
  start(role: Role): Promise<Started>;
  kill(role: Role): Promise<void>;
  /**
   * Restarts the role whenever it exits on its own, as docker-compose's `restart:
   * unless-stopped` does; resolves with how many times it had to, once `stop` is called.
   */
  supervise(role: Role): { stop(): Promise<{ restarts: number; exits: string[] }> };
  /** Calls the api with the bearer token. */
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

export async function startWorld(
  options: {
    redisUrl?: string;
    /** REDIS_CLUSTER_NODES: the scenario's own Cluster. */
    redisClusterNodes?: string;
    simulatorUrl?: string;
    env?: Record<string, string>;
  } = {},
): Promise<World> {
  const { databaseUrl, redisUrl } = testUrls();
  const [receiverPort, apiPort, workerPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const receiverUrl = `http://127.0.0.1:${receiverPort}`;
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  const simulator = options.simulatorUrl ?? 'http://127.0.0.1:9';
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
    REDIS_URL: options.redisUrl ?? redisUrl,
    ...(options.redisClusterNodes ? { REDIS_CLUSTER_NODES: options.redisClusterNodes } : {}),
    QUEUE_PREFIX: uniqueId('faults'),
    RECEIVER_PORT: String(receiverPort),
    API_PORT: String(apiPort),
    WORKER_PORT: String(workerPort),
    PUBLIC_URL: receiverUrl,
    API_PUBLIC_URL: apiUrl,
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    API_TOKEN: randomBytes(18).toString('base64url'),
    CALENDLY_API_URL: simulator,
    CALENDLY_AUTH_URL: simulator,
    CALENDLY_CLIENT_ID: 'sim-client-id',
    CALENDLY_CLIENT_SECRET: 'sim-client-secret',
    CALENDLY_WEBHOOK_SIGNING_KEY: 'sim-app-signing-key',
    ...options.env,
  };
  const urls: Record<Role, string> = {
    receiver: receiverUrl,
    api: apiUrl,
    worker: `http://127.0.0.1:${workerPort}`,
  };
  const current = new Map<Role, Started>();

  const world: World = {
    env,
    receiverUrl,
    apiUrl,
    workerUrl: urls.worker,
    process(role) {
      const started = current.get(role);
      if (!started) throw new Error(`${role} is not running`);
      return started;
    },
    async start(role) {
      const started = track(startEntry(entries[role], [], { PATH: process.env.PATH, ...env }));
      current.set(role, started);
      await waitReady(urls[role], started, 60_000);
      return started;
    },
    async kill(role) {
      const started = current.get(role);
      if (started) await hardKill(started);
    },
    supervise(role) {
      let supervising = true;
      let restarting: Promise<unknown> = Promise.resolve();
      const exits: string[] = [];
      const watch = (started: Started) => {
        started.child.once('exit', (code, signal) => {
          if (!supervising || current.get(role) !== started) return;
          exits.push(`${code ?? signal}: ${started.output().split('\n').slice(-12).join('\n')}`);
          restarting = world.start(role).then(watch);
        });
      };
      watch(world.process(role));
      return {
        async stop() {
          supervising = false;
          await restarting;
          return { restarts: exits.length, exits };
        },
      };
    },
    api: (method, path, body) => callApi(apiUrl, env.API_TOKEN as string, method, path, body),
  };
  return world;
}

/**
 * A world with `roles` running for the file's tests (started before them, every process killed
 * after), and a connection to its database.
 */
export function useWorld(roles: Role[]): { readonly world: World; sql: postgres.Sql } {
  let world: World | undefined;
  const sql = openSql();
  beforeAll(async () => {
    const started = await startWorld();
    world = started;
    await Promise.all(roles.map((role) => started.start(role)));
  });
  afterAll(async () => {
    await killAll();
    await sql.end({ timeout: 5 });
  });
  return {
    get world() {
      if (!world) throw new Error('the world starts in beforeAll');
      return world;
    },
    sql,
  };
}
