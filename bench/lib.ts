// Shared plumbing for the benchmarks: the machine's description, scratch databases and queue
// prefixes that are always dropped, child processes that are always stopped, and statistics.
// Benchmarks are scripts, so they read process.env here; packages never do.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname } from 'node:path';
import { Queue } from 'bullmq';
import type { Cluster, Redis } from 'ioredis';
import postgres from 'postgres';
import { createSealer, type Sealer } from '../packages/crypto/src/index.ts';
import { createDatabase, type DatabaseHandle, migrateDatabase } from '../packages/db/src/index.ts';
import {
  createWorkerRedis,
  queuePrefix,
  type RedisConnection,
  type RedisTarget,
} from '../packages/queue/src/index.ts';
import { type SeedSecrets, seedConnectionWithHook } from '../packages/testing/src/seed.ts';
import { createHookIds, type HookIds } from '../packages/webhooks/src/index.ts';

export const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** REDIS_CLUSTER_NODES when set (every bench then runs on that Cluster), else REDIS_URL. */
export const redisTarget: RedisTarget = process.env.REDIS_CLUSTER_NODES
  ? { kind: 'cluster', nodes: process.env.REDIS_CLUSTER_NODES.split(',') }
  : { kind: 'single', url: redisUrl };
/** The same for a calhook process the bench starts. */
export const redisEnv: Record<string, string> =
  redisTarget.kind === 'cluster'
    ? { REDIS_CLUSTER_NODES: redisTarget.nodes.join(',') }
    : { REDIS_URL: redisUrl };

/** A bench's own connection to the Redis (or Cluster) calhook runs on; it waits for Redis. */
export function benchRedis(): RedisConnection {
  return createWorkerRedis(redisTarget);
}

/** A BullMQ queue with calhook's key layout (a hash tag per queue on a Cluster). */
export function benchQueue(redis: RedisConnection, prefix: string, name: string): Queue {
  return new Queue(name, { connection: redis, prefix: queuePrefix(prefix, name, redis.isCluster) });
}

/** The nodes holding data: every master of a Cluster, or the one Redis. */
export function dataNodes(redis: RedisConnection): Redis[] {
  return redis.isCluster ? (redis as Cluster).nodes('master') : [redis as Redis];
}

/** A numeric INFO field summed over the data nodes (used_memory, used_cpu_user, ...). */
export async function infoSum(redis: RedisConnection, section: string, field: string) {
  let total = 0;
  for (const node of dataNodes(redis)) {
    const info = await node.info(section);
    total += Number(new RegExp(`^${field}:(\\S+)`, 'm').exec(info)?.[1]);
  }
  return total;
}
export const repoRoot = new URL('..', import.meta.url).pathname;

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] as number;
}

export const round1 = (n: number) => Math.round(n * 10) / 10;
export const round2 = (n: number) => Math.round(n * 100) / 100;

export function numberSetting(env: string, fallback: number): number {
  const raw = process.env[env];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${env} must be a positive number`);
  return value;
}

/** What the figures were measured on; printed with every result and copied into BENCHMARKS.md. */
export async function describeMachine(): Promise<Record<string, string>> {
  const sql = postgres(serverUrl, { max: 1, onnotice: () => {} });
  const redis = benchRedis();
  try {
    const [pg] = await sql<{ server_version: string }[]>`show server_version`;
    const info = await redis.info('server');
    return {
      nproc: String(cpus().length),
      cpu: cpus()[0]?.model ?? 'unknown',
      memory: `${Math.round(totalmem() / 2 ** 30)} GiB`,
      node: process.version,
      postgres: pg?.server_version ?? 'unknown',
      redis: `${/redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'}${redis.isCluster ? ` (Cluster of ${dataNodes(redis).length} masters)` : ''}`,
    };
  } finally {
    await sql.end();
    redis.disconnect();
  }
}

/** A migrated database of the bench's own, dropped by `drop()`. */
export async function scratchDatabase(
  label: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const url = new URL(serverUrl);
  const name = `calhook_bench_${label}_${randomBytes(4).toString('hex')}`;
  url.pathname = `/${name}`;
  await migrateDatabase(url.toString());
  return {
    url: url.toString(),
    async drop() {
      const admin = postgres(serverUrl, { max: 1, onnotice: () => {} });
      try {
        await admin.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await admin.end();
      }
    },
  };
}

export function benchPrefix(label: string): string {
  return `bench${label}${randomBytes(4).toString('hex')}`;
}

/**
 * Removes every key under a queue prefix (SCAN + UNLINK: never blocks Redis for long), on
 * every master of a Cluster. One UNLINK per key there: keys of a prefix span slots.
 */
export async function dropPrefix(redis: RedisConnection, prefix: string): Promise<number> {
  let removed = 0;
  for (const node of dataNodes(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length === 0) continue;
      if (redis.isCluster) {
        for (const key of keys) removed += await node.unlink(key);
      } else removed += await node.unlink(...keys);
    } while (cursor !== '0');
  }
  return removed;
}

/** Removes one queue's keys, wherever its layout puts them. */
export function dropQueue(redis: RedisConnection, prefix: string, name: string): Promise<number> {
  return dropPrefix(redis, `${queuePrefix(prefix, name, redis.isCluster)}:${name}`);
}

export interface BenchHook {
  connectionId: string;
  userId: string;
  calendlyUserUri: string;
  hookId: string;
  signingKey: string;
}

/** Seeds `count` connected users with one active hook each, 20 at a time. */
export async function seedHooks(
  db: DatabaseHandle['db'],
  secrets: SeedSecrets,
  count: number,
): Promise<BenchHook[]> {
  const hooks: BenchHook[] = [];
  for (let i = 0; i < count; i += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, count - i) }, () => seedConnectionWithHook(db, secrets)),
    );
    hooks.push(...batch);
  }
  return hooks;
}

export function newEncryptionKey(): { base64: string; sealer: Sealer; hookIds: HookIds } {
  const key = randomBytes(32);
  return {
    base64: key.toString('base64'),
    sealer: createSealer([key]),
    hookIds: createHookIds([key]),
  };
}

export { createDatabase };

const template = (await import('../examples/invitee-created.json', { with: { type: 'json' } }))
  .default as Record<string, unknown> & { payload: Record<string, unknown> };

/**
 * A Calendly-shaped invitee.created delivery (~2 KB, like examples/invitee-created.json) for one
 * user, with event and invitee ids taken from `seq` so every body is distinct and the meeting
 * starts `seq` minutes after `startBase` (the e2e bench finds it by that start time).
 */
export function inviteeCreatedBody(
  calendlyUserUri: string,
  seq: number,
  startBase = Date.UTC(2027, 0, 1),
): { body: string; eventUri: string; start: Date } {
  const id = `${seq.toString(36).toUpperCase().padStart(8, '0')}${randomBytes(4).toString('hex')}`;
  const eventUri = `https://api.calendly.com/scheduled_events/EV${id}`;
  const start = new Date(startBase + seq * 60_000);
  const end = new Date(start.getTime() + 30 * 60_000);
  const now = new Date().toISOString();
  const sched = template.payload.scheduled_event as Record<string, unknown>;
  const body = JSON.stringify({
    ...template,
    created_at: now,
    created_by: calendlyUserUri,
    payload: {
      ...template.payload,
      uri: `${eventUri}/invitees/IN${id}`,
      event: eventUri,
      email: `client-${seq}@example.com`,
      // Three answers, as a typical booking form has: brings the body to ~2 KB.
      questions_and_answers: [
        { question: 'What would you like to discuss?', answer: 'Retirement plan', position: 0 },
        { question: 'Phone number', answer: '+44 20 7946 0958', position: 1 },
        {
          question: 'Anything we should know before the call?',
          answer: 'Please send the agenda and last quarter statements beforehand.',
          position: 2,
        },
      ],
      cancel_url: `https://calendly.com/cancellations/IN${id}`,
      reschedule_url: `https://calendly.com/reschedulings/IN${id}`,
      created_at: now,
      updated_at: now,
      scheduled_event: {
        ...sched,
        uri: eventUri,
        start_time: start.toISOString(),
        end_time: end.toISOString(),
        event_memberships: [
          { user: calendlyUserUri, user_email: 'adviser@example.com', user_name: 'Adviser' },
        ],
        created_at: now,
        updated_at: now,
      },
    },
  });
  return { body, eventUri, start };
}

export interface Child {
  process: ChildProcess;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Starts `node <script>` with the given env and waits until `url` answers (any status), so a
 * measurement never includes start-up. Its output goes to `logFile` (or nowhere).
 */
export async function startNode(
  script: string,
  env: Record<string, string>,
  options: { readyUrl: string; args?: string[]; nodeArgs?: string[]; logFile?: string },
): Promise<Child> {
  if (options.logFile) mkdirSync(dirname(options.logFile), { recursive: true });
  const out = options.logFile ? openSync(options.logFile, 'a') : 'ignore';
  const child = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), script, ...(options.args ?? [])],
    { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', out, out] },
  );
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${script}`);
  let exited = false;
  child.on('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await done;
    clearTimeout(timer);
  };
  running.add(stop);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) throw new Error(`${script} exited before it was ready`);
    try {
      await fetch(options.readyUrl);
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`${script} not ready after 30 s`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    process: child,
    pid,
    async stop() {
      running.delete(stop);
      await stop();
    },
  };
}

const running = new Set<() => Promise<void>>();

/** Stops every child still running: called on the way out, including after a failure. */
export async function stopAll(): Promise<void> {
  await Promise.all([...running].map((stop) => stop()));
  running.clear();
}

/** Resident set size of a process in bytes, from /proc (Linux only; 0 elsewhere). */
export function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = /VmRSS:\s+(\d+)\s+kB/.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** Samples a process's RSS every `everyMs` until stopped; reports the peak and the median. */
export function sampleRss(pid: number, everyMs = 250): () => { peak: number; median: number } {
  const samples: number[] = [];
  const timer = setInterval(() => samples.push(rssOf(pid)), everyMs);
  return () => {
    clearInterval(timer);
    const seen = samples.filter((s) => s > 0);
    return { peak: Math.max(0, ...seen), median: median(seen) };
  };
}

/**
 * CPU seconds (user + system) a process has used, from /proc/<pid>/stat. Unlike throughput it
 * does not count time the machine's host took away (steal), so it compares servers fairly on a
 * noisy shared machine. NaN where /proc is missing.
 */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state: utime, stime are
    // fields 14 and 15 of the whole line, 12 and 13 after the closing parenthesis.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}
/** USER_HZ: 100 on every Linux this runs on (sysconf(_SC_CLK_TCK)). */
const CLOCK_TICKS_PER_SECOND = 100;

/**
 * CPU seconds every Postgres process on this machine has used so far (the postmaster, its
 * backends and its background workers, all named "postgres"); NaN where /proc is missing.
 */
export function postgresCpuSeconds(): number {
  let total = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let comm: string;
      try {
        comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      } catch {
        continue; // gone since the listing
      }
      if (comm !== 'postgres') continue;
      const seconds = cpuSecondsOf(Number(entry));
      if (Number.isFinite(seconds)) total += seconds;
    }
  } catch {
    return Number.NaN;
  }
  return total;
}

/**
 * CPU seconds of each of the worker's own Postgres backends (application_name calhook-worker,
 * the database `sql` is connected to), by pid: the machine's Postgres serves other work too,
 * which a count over every postgres process would add in. WAL writing and checkpoints are
 * shared and not counted.
 */
export async function workerBackendsCpu(sql: postgres.Sql): Promise<Map<number, number>> {
  const rows = await sql<{ pid: number }[]>`
    select pid from pg_stat_activity
    where datname = current_database() and application_name = 'calhook-worker'`;
  return new Map(rows.map((r) => [r.pid, cpuSecondsOf(r.pid)]));
}

/** CPU seconds the worker's backends used between two `workerBackendsCpu` readings. */
export function backendsSpent(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) {
    if (Number.isFinite(seconds)) total += seconds - (before.get(pid) ?? 0);
  }
  return total;
}

/** CPU seconds Redis has used (INFO cpu: used_cpu_user + used_cpu_sys; every master's). */
export async function redisCpuSeconds(redis: RedisConnection): Promise<number> {
  return (
    (await infoSum(redis, 'cpu', 'used_cpu_user')) + (await infoSum(redis, 'cpu', 'used_cpu_sys'))
  );
}

export const mib = (bytes: number) => round1(bytes / 2 ** 20);

export function printTable(rows: Record<string, string | number>[]): void {
  console.table(rows);
}

/**
 * The environment every calhook role of a bench runs with: its own database, Redis prefix and
 * keys, local ports, and no Calendly (reconcile and refresh fail fast, never leave the host).
 */
export function localRoleEnv(options: {
  databaseUrl: string;
  prefix: string;
  encryptionKey: string;
  apiToken: string;
  ports: { receiver: number; api: number; worker: number };
}): Record<string, string> {
  return {
    DATABASE_URL: options.databaseUrl,
    ...redisEnv,
    QUEUE_PREFIX: options.prefix,
    ENCRYPTION_KEY: options.encryptionKey,
    API_TOKEN: options.apiToken,
    HOST: '127.0.0.1',
    RECEIVER_PORT: String(options.ports.receiver),
    API_PORT: String(options.ports.api),
    WORKER_PORT: String(options.ports.worker),
    CALENDLY_API_URL: 'http://127.0.0.1:9',
    CALENDLY_AUTH_URL: 'http://127.0.0.1:9',
    RECONCILE_EVERY: '1d',
    LOG_LEVEL: 'info',
    NODE_ENV: 'production',
  };
}

/** BENCH_LOG_DIR keeps each role's log lines (info level) for reading after a run. */
export function roleLogFile(role: string): { logFile?: string } {
  return process.env.BENCH_LOG_DIR ? { logFile: `${process.env.BENCH_LOG_DIR}/${role}.log` } : {};
}
