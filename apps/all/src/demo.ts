// `pnpm demo`: calhook end to end with no Calendly account. Starts the Calendly simulator and
// every role in this process, connects a demo user, then books, reschedules, cancels and marks
// a no-show through the simulator's control API, so real signed webhooks flow through the
// receiver, the queue and the worker. Prints the meetings and the change feed the app would
// read, and keeps running (for Bull Board and curl) until Ctrl-C. It runs on a database and a
// queue prefix of its own (the configured names + `_demo` / `-demo`), reset at every start.
import { fileURLToPath } from 'node:url';
import { startApi } from '@calhook/api-app';
import { startSimulator } from '@calhook/calendly-simulator';
import { loadConfigOrExit } from '@calhook/config';
import { dropDatabase, migrateDatabase } from '@calhook/db';
import { createLogger, guardProcess, onShutdown } from '@calhook/observability';
import { createProducerRedis, createQueues, type RedisTarget } from '@calhook/queue';
import { startReceiver } from '@calhook/receiver-app';
import { startWorker } from '@calhook/worker-app';
import { ensureDevSecrets } from './dev-env.ts';
import { startDevServices } from './dev-start.ts';
import { freePort } from './free-port.ts';

const USER_ID = 'demo-user';
const STEP_TIMEOUT_MS = 30_000;

const envFile = fileURLToPath(new URL('../../../.env', import.meta.url));
ensureDevSecrets(envFile, process.env);
const base = loadConfigOrExit(process.env, ['receiver', 'api', 'worker']);
// The roles only speak up when something is wrong: the demo's own lines are the story.
const logger = createLogger({ level: 'warn', pretty: base.log.pretty, name: 'calhook' });
guardProcess(logger);

const stops: (() => Promise<void>)[] = [];
onShutdown(logger, async () => {
  for (const stop of stops.splice(0).reverse()) await stop();
});

const services = await startDevServices(base, process.env, logger);
stops.push(services.stop);
const databaseUrl = new URL(services.databaseUrl);
databaseUrl.pathname = `${databaseUrl.pathname}_demo`;
const queuePrefix = `${base.queuePrefix}-demo`;
await resetDemoData(databaseUrl.toString(), services.redis, queuePrefix, base.queueShards);

const sim = await startSimulator({ logger: false });
stops.push(() => sim.close());
const [receiverPort, apiPort, workerPort] = [await freePort(), await freePort(), await freePort()];
const config = loadConfigOrExit(
  {
    ...process.env,
    DATABASE_URL: databaseUrl.toString(),
    ...(services.redis.kind === 'cluster'
      ? { REDIS_CLUSTER_NODES: services.redis.nodes.join(',') }
      : { REDIS_URL: services.redis.url }),
    QUEUE_PREFIX: queuePrefix,
    // The demo (its simulator's tokens, its admin login) serves this machine only.
    HOST: '127.0.0.1',
    RECEIVER_PORT: String(receiverPort),
    API_PORT: String(apiPort),
    WORKER_PORT: String(workerPort),
    PUBLIC_URL: `http://127.0.0.1:${receiverPort}`,
    API_PUBLIC_URL: `http://127.0.0.1:${apiPort}`,
    CALENDLY_API_URL: sim.url,
    CALENDLY_AUTH_URL: sim.url,
    CALENDLY_CLIENT_ID: 'sim-client-id',
    CALENDLY_CLIENT_SECRET: 'sim-client-secret',
    CALENDLY_WEBHOOK_SIGNING_KEY: 'sim-app-signing-key',
  },
  ['receiver', 'api', 'worker'],
);
const worker = await startWorker(config, logger);
stops.push(() => worker.close());
const receiver = await startReceiver(config, logger);
const api = await startApi(config, logger);
stops.push(() => Promise.all([receiver.close(), api.close()]).then(() => {}));

say(`calhook demo: a Calendly stand-in, calhook and one connected user, on this machine.
  Calendly simulator  ${sim.url}
  receiver            ${receiver.url}   (the simulator's signed webhooks arrive here)
  api                 ${api.url}   (API docs: ${api.url}/docs)
  data                database ${databaseUrl.pathname.slice(1)}, queue prefix ${queuePrefix} (reset at every start)
`);

// The app's view of what happened: the change feed, read from where the last read stopped.
let cursor: string | undefined;
const feed: Change[] = [];

try {
  await play();
} catch (error) {
  // A scene that never reaches the feed is the demo failing: say which, stop, exit 1.
  console.error(`calhook demo failed: ${error instanceof Error ? error.message : String(error)}`);
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  process.exit(1);
}

async function play() {
  const host = await sim.control.createUser({ name: 'Dana Host', email: 'dana@example.com' });
  const tokens = await sim.control.issueTokens(host.uri);
  await step(
    `Connect: app user "${USER_ID}" connects the Calendly user ${host.name} <${host.email}> (PUT /v1/connections/${USER_ID})`,
    () =>
      request('PUT', `/v1/connections/${USER_ID}`, {
        accessToken: tokens.access_token,
        refreshToken: tokens.refresh_token,
        expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
      }),
    (_, seen) =>
      seen.some(
        (change) => change.type === 'connection.updated' && change.data.webhook?.state === 'active',
      ),
  );

  const day = (days: number, hour: number) => {
    const at = new Date();
    at.setUTCDate(at.getUTCDate() + days);
    at.setUTCHours(hour, 0, 0, 0);
    return at.toISOString();
  };

  const intro = await step(
    `1. Alice books "Intro call" for ${when(day(1, 10))}`,
    () =>
      sim.control.book(host.uri, {
        eventName: 'Intro call',
        inviteeName: 'Alice Client',
        inviteeEmail: 'alice@example.com',
        startTime: day(1, 10),
      }),
    (booked, seen) => has(seen, 'meeting.created', booked.eventUri),
  );
  const kickoff = await step(
    `2. Bob books "Project kickoff" for ${when(day(3, 14))}`,
    () =>
      sim.control.book(host.uri, {
        eventName: 'Project kickoff',
        inviteeName: 'Bob Client',
        inviteeEmail: 'bob@example.com',
        startTime: day(3, 14),
      }),
    (booked, seen) => has(seen, 'meeting.created', booked.eventUri),
  );
  const moved = await step(
    `3. Alice reschedules "Intro call" to ${when(day(2, 9))}`,
    () => sim.control.reschedule(intro.inviteeUri, { startTime: day(2, 9) }),
    (rescheduled, seen) =>
      has(seen, 'meeting.canceled', intro.eventUri) &&
      has(seen, 'meeting.created', rescheduled.eventUri),
  );
  await step(
    '4. Bob cancels "Project kickoff"',
    () => sim.control.cancel(kickoff.inviteeUri, { reason: 'Something came up' }),
    (_, seen) => has(seen, 'meeting.canceled', kickoff.eventUri),
  );
  await step(
    '5. Dana marks Alice a no-show at the rescheduled "Intro call"',
    () => sim.control.markNoShow(moved.inviteeUri),
    (_, seen) =>
      seen.some(
        (change) =>
          change.type === 'meeting.updated' &&
          meetingOf(change).calendlyEventUri === moved.eventUri &&
          meetingOf(change).invitees.some((invitee) => invitee.noShow),
      ),
  );

  const listed = await request('GET', `/v1/users/${USER_ID}/meetings`);
  say(`Meetings (GET /v1/users/${USER_ID}/meetings):`);
  for (const meeting of listed.meetings as Meeting[]) {
    say(
      `  ${when(meeting.startTime).padEnd(26)} ${meeting.name.padEnd(16)} ${meeting.status.padEnd(9)} v${meeting.version}  ${meeting.invitees.map(inviteeLine).join(', ')}`,
    );
  }
  await readFeed();
  say(`\nChange feed (GET /v1/changes?userId=${USER_ID}), in feed order:`);
  for (const change of feed) say(`  ${changeLine(change)}`);
  say('  (an app keeps, for each meeting, the change with the highest version it has seen)');

  say(`
Bull Board: ${config.admin ? `${api.url}/admin/queues  (login: ADMIN_USER / ADMIN_PASSWORD in .env)` : 'off (set ADMIN_USER and ADMIN_PASSWORD)'}
Try the API yourself:
  export $(grep '^API_TOKEN=' .env)
  curl -H "authorization: Bearer $API_TOKEN" '${api.url}/v1/changes?userId=${USER_ID}'
calhook demo is running; Ctrl-C stops it.`);
}

// ---------------------------------------------------------------------------------------------

interface Invitee {
  email: string;
  status: string;
  noShow: boolean;
  rescheduled: boolean;
  cancelReason: string | null;
}
interface Meeting {
  calendlyEventUri: string;
  name: string;
  status: string;
  startTime: string;
  version: number;
  invitees: Invitee[];
}
interface Change {
  type: string;
  occurredAt: string;
  data: Meeting & { status: string; webhook?: { state: string } };
}

function say(line: string) {
  console.log(line);
}

/** Runs one scene, then waits until the feed shows what it must have caused; prints those. */
async function step<T>(
  title: string,
  act: () => Promise<T>,
  done: (result: T, seen: Change[]) => boolean,
): Promise<T> {
  say(title);
  const from = feed.length;
  const startedAt = performance.now();
  const result = await act();
  const deadline = Date.now() + STEP_TIMEOUT_MS;
  while (!done(result, feed.slice(from))) {
    if (Date.now() > deadline) {
      throw new Error(`"${title}" did not reach the change feed in ${STEP_TIMEOUT_MS / 1000} s`);
    }
    if ((await readFeed()) === 0) await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const ms = Math.round(performance.now() - startedAt);
  for (const change of feed.slice(from)) say(`   → ${changeLine(change)}`);
  say(`   (in the change feed ${ms} ms later)\n`);
  return result;
}

async function readFeed(): Promise<number> {
  let read = 0;
  for (;;) {
    const query = new URLSearchParams({ userId: USER_ID, limit: '500' });
    if (cursor) query.set('after', cursor);
    const page = await request('GET', `/v1/changes?${query}`);
    cursor = page.nextCursor;
    feed.push(...page.changes);
    read += page.changes.length;
    if (page.changes.length === 0) return read;
  }
}

function has(seen: Change[], type: string, eventUri: string): boolean {
  return seen.some(
    (change) => change.type === type && meetingOf(change).calendlyEventUri === eventUri,
  );
}

function meetingOf(change: Change): Meeting {
  return change.data;
}

function changeLine(change: Change): string {
  if (change.type === 'connection.updated') {
    return `${change.type.padEnd(19)}connection ${change.data.status}, webhook ${change.data.webhook?.state}`;
  }
  const meeting = meetingOf(change);
  return `${change.type.padEnd(19)}${meeting.name} at ${when(meeting.startTime)}: ${meeting.status}, v${meeting.version}, ${meeting.invitees.map(inviteeLine).join(', ')}`;
}

function inviteeLine(invitee: Invitee): string {
  const notes = [
    invitee.status === 'canceled' ? 'canceled' : null,
    invitee.rescheduled ? 'rescheduled' : null,
    invitee.noShow ? 'no-show' : null,
    invitee.cancelReason ? `"${invitee.cancelReason}"` : null,
  ].filter(Boolean);
  return notes.length > 0 ? `${invitee.email} (${notes.join(', ')})` : invitee.email;
}

function when(iso: string): string {
  return new Date(iso).toLocaleString('en-GB', {
    weekday: 'short',
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    timeZone: 'UTC',
    timeZoneName: 'short',
  });
}

// biome-ignore lint/suspicious/noExplicitAny: the demo prints fields of API.md's shapes as they come
async function request(method: string, path: string, body?: unknown): Promise<any> {
  const response = await fetch(`${api.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${config.apiToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

/** A fresh demo every start: its own database dropped and migrated, its own queues emptied. */
async function resetDemoData(
  url: string,
  redisTarget: RedisTarget,
  prefix: string,
  shards: number,
) {
  await dropDatabase(url);
  await migrateDatabase(url);
  const redis = createProducerRedis(redisTarget);
  const queues = createQueues(redis, prefix, { shards });
  try {
    for (const queue of queues.all()) await queue.obliterate({ force: true });
  } finally {
    await queues.close();
    redis.disconnect();
  }
}
