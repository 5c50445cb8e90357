// Proves the first five minutes the README promises, through npm as a user types it: `npm start`
// prints where every entry point is and they answer; SIGTERM to npm alone, or Ctrl-C to the
// terminal's process group, stops every process it started (exit 0); with Postgres and Redis
// unreachable and no Docker, one message gives the two ways out and the exit is non-zero; and
// `npm run demo` plays a booking, a reschedule, a cancellation and a no-show into the change
// feed with the right change types, then stops on Ctrl-C with exit 0.
import { randomBytes } from 'node:crypto';
import { createProducerRedis, createQueues } from '@calhook/queue';
import { freePort, testUrls, uniqueId } from '@calhook/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { dropDatabase } from '../../packages/db/src/migrate.ts';
import { descendants, isRunning, type NpmRun, runNpm } from './npm-script.ts';

const running: NpmRun[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const run of running) if (isRunning(run.pid)) process.kill(-run.pid, 'SIGKILL');
  for (const cleanup of cleanups) await cleanup();
});

/**
 * What a developer's shell would hold, made explicit: every secret set (so nothing is written
 * to the checkout's .env, whose values would otherwise fill in what is unset), JSON logs.
 */
async function environment(): Promise<NodeJS.ProcessEnv> {
  const { databaseUrl, redisUrl } = testUrls();
  const queuePrefix = uniqueId('first-run');
  cleanups.push(() => emptyQueues(redisUrl, queuePrefix));
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    RECEIVER_PORT: String(await freePort()),
    API_PORT: String(await freePort()),
    WORKER_PORT: String(await freePort()),
    API_TOKEN: randomBytes(18).toString('base64url'),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    ADMIN_USER: 'admin',
    ADMIN_PASSWORD: randomBytes(12).toString('base64url'),
    LOG_LEVEL: 'info',
    LOG_PRETTY: 'false',
  };
}

function start(args: string[], env: NodeJS.ProcessEnv): NpmRun {
  const run = runNpm(args, env);
  running.push(run);
  return run;
}

/** Waits until none of `pids` runs any more; fails after `timeoutMs`. */
async function allGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(isRunning)) {
    if (Date.now() > deadline) {
      throw new Error(`still running after ${timeoutMs} ms: ${pids.filter(isRunning).join(' ')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The JSON log line of `npm start` that says it runs, parsed. */
async function startLine(run: NpmRun): Promise<Record<string, string | number | null>> {
  const [line] = await run.waitFor(/^\{.*"calhook running.*$/m, 60_000);
  return JSON.parse(line);
}

async function dockerAnswers(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

const withDocker = await dockerAnswers();

describe('npm start', () => {
  it('prints the receiver, api, docs and Bull Board URLs, which answer', async () => {
    const env = await environment();
    const run = start(['start'], env);
    const line = await startLine(run);
    expect(line).toMatchObject({
      receiver: `http://127.0.0.1:${env.RECEIVER_PORT}`,
      api: `http://127.0.0.1:${env.API_PORT}`,
      docs: `http://127.0.0.1:${env.API_PORT}/docs`,
      bullBoard: `http://127.0.0.1:${env.API_PORT}/admin/queues`,
    });
    for (const url of [line.receiver, line.api]) {
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
    }
    expect((await fetch(String(line.docs))).status).toBe(200);
    expect((await fetch(String(line.bullBoard))).status).toBe(401);
    const login = Buffer.from(`${env.ADMIN_USER}:${env.ADMIN_PASSWORD}`).toString('base64');
    const board = await fetch(String(line.bullBoard), {
      headers: { authorization: `Basic ${login}` },
    });
    expect(board.status).toBe(200);
    process.kill(run.pid, 'SIGTERM');
    expect(await run.exited(30_000)).toBe(0);
  });

  it('stops every process it started when npm alone gets SIGTERM', async () => {
    const run = start(['start'], await environment());
    const line = await startLine(run);
    const started = descendants(run.pid);
    // npm → node (the shell scripts exec into node): the process that logged the start line.
    expect(started).toContain(line.pid);

    process.kill(run.pid, 'SIGTERM');
    expect(await run.exited(30_000)).toBe(0);
    await allGone(started, 5_000);
    expect(run.output()).toMatch(/"msg":"stopped"/);
  });

  it('stops cleanly on Ctrl-C, which signals npm and node at once', async () => {
    const run = start(['start'], await environment());
    await startLine(run);
    const started = descendants(run.pid);

    process.kill(-run.pid, 'SIGINT');
    expect(await run.exited(30_000)).toBe(0);
    await allGone(started, 5_000);
    expect(run.output()).toMatch(/"msg":"stopped"/);
  });

  // Where Docker answers, `npm start` would start containers instead: nothing to test there.
  it.skipIf(withDocker)(
    'without Postgres, Redis or Docker: says the two ways out and exits non-zero',
    async () => {
      const env = {
        ...(await environment()),
        DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/calhook`,
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      };
      const run = start(['start'], env);
      const code = await run.exited(30_000);
      expect(code).not.toBe(0);
      const output = run.output();
      expect(output).toContain(
        `Postgres at 127.0.0.1:${new URL(env.DATABASE_URL).port} (DATABASE_URL) and ` +
          `Redis at 127.0.0.1:${new URL(env.REDIS_URL).port} (REDIS_URL) do not answer, ` +
          'and no Docker engine answers either.',
      );
      expect(output).toMatch(/1\. Run Postgres and Redis yourself at those addresses/);
      expect(output).toMatch(/2\. Install and start Docker/);
      expect(output).not.toMatch(/\n\s+at /);
      expect(output).not.toContain('calhook running');
    },
  );
});

describe('npm run demo', () => {
  it('plays a booking, a reschedule, a cancellation and a no-show into the change feed', async () => {
    const env = await environment();
    const demoDatabase = `${new URL(String(env.DATABASE_URL)).pathname.slice(1)}_demo`;
    cleanups.push(() => {
      const demo = new URL(String(env.DATABASE_URL));
      demo.pathname = `/${demoDatabase}`;
      return dropDatabase(demo.toString());
    });
    cleanups.push(() => emptyQueues(String(env.REDIS_URL), `${env.QUEUE_PREFIX}-demo`));
    const startedAt = Date.now();
    const run = start(['run', 'demo'], env);
    await run.waitFor(/Ctrl-C stops it/, 90_000);
    const seconds = (Date.now() - startedAt) / 1000;
    console.log(`e2e: npm run demo played through in ${seconds.toFixed(1)} s`);

    const output = run.output();
    expect(output).toContain(`database ${demoDatabase}, queue prefix ${env.QUEUE_PREFIX}-demo`);
    /** The change types the demo printed under the scene whose title starts with `title`. */
    const typesUnder = (title: string) => {
      const scene = output.slice(output.indexOf(title)).split('\n\n')[0] ?? '';
      return scene.match(/(?<=→ )[a-z]+\.[a-z]+/g) ?? [];
    };
    expect(typesUnder('Connect:')).toContain('connection.updated');
    expect(typesUnder('1. Alice books')).toEqual(['meeting.created']);
    expect(typesUnder('2. Bob books')).toEqual(['meeting.created']);
    // The old meeting is canceled and the new one created; the order of the two deliveries
    // (and a link update between them) is up to Calendly.
    expect(typesUnder('3. Alice reschedules')).toEqual(
      expect.arrayContaining(['meeting.canceled', 'meeting.created']),
    );
    expect(typesUnder('4. Bob cancels')).toEqual(['meeting.canceled']);
    expect(typesUnder('5. Dana marks Alice a no-show')).toEqual(['meeting.updated']);

    const meetings = output.slice(output.indexOf('Meetings (GET /v1/users/demo-user/meetings)'));
    expect(meetings).toMatch(/Intro call +canceled .*alice@example\.com \(canceled, rescheduled\)/);
    expect(meetings).toMatch(/Intro call +active .*alice@example\.com \(no-show\)/);
    expect(meetings).toMatch(/Project kickoff +canceled .*bob@example\.com \(canceled/);
    expect(output).toContain('Change feed (GET /v1/changes?userId=demo-user)');
    expect(output).toMatch(
      /Bull Board: http:\/\/127\.0\.0\.1:\d+\/admin\/queues +\(login: ADMIN_USER \/ ADMIN_PASSWORD in \.env\)/,
    );
    // The login is named, never printed.
    expect(output).not.toContain(env.ADMIN_PASSWORD);

    const started = descendants(run.pid);
    process.kill(-run.pid, 'SIGINT');
    expect(await run.exited(30_000)).toBe(0);
    await allGone(started, 5_000);
  }, 150_000);
});

async function emptyQueues(redisUrl: string, prefix: string) {
  const redis = createProducerRedis(redisUrl);
  const queues = createQueues(redis, prefix);
  for (const queue of queues.all()) await queue.obliterate({ force: true });
  await queues.close();
  redis.disconnect();
}
