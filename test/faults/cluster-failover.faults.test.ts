// Proves a Redis Cluster failover loses no delivery's effect: on 3 masters + 3 replicas (AOF,
// fsync always) with QUEUE_SHARDS=3, the master of one shard is SIGKILLed in the middle of a
// burst of Calendly deliveries, its replica is promoted, and the receiver answers 503 only for
// that shard and only while no master holds its slot. Replication is asynchronous, so the dead
// master takes the jobs it acknowledged last with it: the replica is held (SIGSTOP) for the
// last part of the burst and the worker paused, which makes that loss certain rather than
// lucky. Then `pnpm reconcile` brings every acknowledged delivery's booking into the meetings
// from Calendly by backfill, each exactly once.
import { type ScratchCluster, startRedisCluster } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSimulatorControl } from '../../packages/calendly-simulator/src/control-client.ts';
import { jobQueueName } from '../../packages/queue/src/index.ts';
import { runEntry } from '../e2e/processes.ts';
import { openSql } from './support/check.ts';
import {
  killAll,
  type Simulator,
  startSimulatorProcess,
  startWorld,
  type World,
} from './support/world.ts';

const SHARDS = 3;
/** The shard whose master dies. */
const TARGET = 'events-1';
const USERS_PER_SHARD = 3;
// cluster-node-timeout: how long a master must be unreachable before the others fail it over.
const NODE_TIMEOUT_MS = 1_000;
// How long after the promotion every client may still answer 503: the receiver gives a
// delivery 2 s (its Redis budget) and its Cluster client re-reads the slot map at once on a
// closed connection, and every 2 s regardless.
const REDISCOVERY_MS = 3_000;

let cluster: ScratchCluster;
let sim: Simulator;
let world: World;
const sql = openSql();

beforeAll(async () => {
  cluster = await startRedisCluster({
    masters: 3,
    replicas: 1,
    nodeTimeoutMs: NODE_TIMEOUT_MS,
    args: [
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      // The shards whose masters live keep serving while one slot has no master.
      '--cluster-require-full-coverage',
      'no',
      // The held replica must still stand for election after the master died.
      '--cluster-replica-validity-factor',
      '0',
    ],
  });
  sim = await startSimulatorProcess();
  const target = await cluster.masterOf(await cluster.slotOf(`{${TARGET}}`));
  // Seeded at the masters that survive, as an operator lists a few seeds.
  const seeds = (await cluster.masters()).filter((m) => m.id !== target.id);
  world = await startWorld({
    redisClusterNodes: seeds.map((m) => m.url).join(','),
    simulatorUrl: sim.url,
    env: { QUEUE_SHARDS: String(SHARDS) },
  });
  await Promise.all([world.start('receiver'), world.start('worker'), world.start('api')]);
}, 120_000);

afterAll(async () => {
  await killAll();
  await cluster?.stop();
  await sql.end({ timeout: 5 });
});

interface User {
  userId: string;
  uri: string;
  connectionId: string;
  queue: string;
  subscriptionUri: string;
}

interface Delivery {
  subscriptionUri: string;
  attempt: number;
  at: string;
  outcome: string;
  status: number | null;
  body: string;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await pause(100);
  }
}

it('a master SIGKILLed mid-burst: 503 only while its slot has no master, every booking lands once', async () => {
  const control = createSimulatorControl(sim.url);

  // Users until every shard has a few: the catalog puts each connection on its shard.
  const users: User[] = [];
  const perQueue = () =>
    new Map(['events', 'events-1', 'events-2'].map((q) => [q, users.filter((u) => u.queue === q)]));
  for (let i = 0; [...perQueue().values()].some((list) => list.length < USERS_PER_SHARD); i++) {
    if (i >= 60) throw new Error('60 connections did not cover every shard');
    const simUser = await control.createUser({ email: `failover${i}@example.com` });
    const tokens = await control.issueTokens(simUser.uri);
    const userId = `failover-${i}-${Date.now()}`;
    const connected = await world.api('PUT', `/v1/connections/${userId}`, {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
    });
    expect(connected.status).toBe(200);
    const body = connected.body as { webhook: { subscriptionUri: string } };
    const [row] = await sql<{ id: string }[]>`select id from connections where user_id = ${userId}`;
    const connectionId = row?.id ?? '';
    users.push({
      userId,
      uri: simUser.uri,
      connectionId,
      subscriptionUri: body.webhook.subscriptionUri,
      queue: jobQueueName(
        'ingest-deliveries',
        {
          deliveries: [
            { connectionId, hookId: 'h', body: '', receivedAt: new Date().toISOString() },
          ],
        },
        SHARDS,
      ),
    });
  }
  const targetUsers = users.filter((u) => u.queue === TARGET);
  const targetSubscriptions = new Set(targetUsers.map((u) => u.subscriptionUri));
  const ids = users.map((u) => u.connectionId);
  // Every connection's first import has run: the backfill asked for below is the next one.
  await until('the first-connect imports', 60_000, async () => {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from connections
      where id = any(${ids}::uuid[]) and last_backfilled_at is not null`;
    return row?.n === users.length ? true : undefined;
  });

  const booked = new Map<string, { eventUri: string; inviteeUri: string }[]>();
  let hour = 0;
  const book = (list: User[], each: number) =>
    Promise.all(
      list.map(async (user) => {
        const made = booked.get(user.connectionId) ?? [];
        booked.set(user.connectionId, made);
        for (let i = 0; i < each; i++) {
          hour += 1;
          // Inside the routine backfill window: from tomorrow on, an hour apart.
          const startTime = new Date(Date.now() + 86_400_000 + hour * 3_600_000);
          startTime.setUTCMinutes(0, 0, 0);
          made.push(
            await control.book(user.uri, {
              inviteeEmail: `guest${hour}@example.com`,
              startTime: startTime.toISOString(),
            }),
          );
        }
      }),
    );
  const deliveries = async (): Promise<Delivery[]> => {
    const all = (await control.deliveries()) as Delivery[];
    const ours = new Set(users.map((u) => u.subscriptionUri));
    return all.filter((d) => ours.has(d.subscriptionUri));
  };
  const inboxBodies = async () =>
    new Set(
      (
        await sql<{ body: string }[]>`
          select body from event_inbox
          where connection_id = any(${ids}::uuid[]) and processed_at is not null`
      ).map((r) => r.body),
    );

  // A: a quiet start, every delivery acknowledged and in the inbox.
  await book(users, 2);
  expect((await control.settle({ timeoutMs: 30_000 })).settled).toBe(true);
  const phaseA = (await deliveries()).filter((d) => d.outcome === 'delivered');
  await until('phase A in the inbox', 30_000, async () =>
    (await inboxBodies()).size === phaseA.length ? true : undefined,
  );

  // B: the worker paused and the target's replica held: what the master acknowledges now is
  // on the master alone.
  const slot = await cluster.slotOf(`{${TARGET}}`);
  const master = await cluster.masterOf(slot);
  const [replica] = await cluster.replicasOf(master);
  if (!replica) throw new Error('the target master has no replica');
  world.process('worker').child.kill('SIGSTOP');
  await cluster.cutOff(replica);
  const before = new Set((await deliveries()).map((d) => d.body));
  await book(targetUsers, 4);
  expect((await control.settle({ timeoutMs: 30_000 })).settled).toBe(true);
  const phaseB = (await deliveries()).filter((d) => !before.has(d.body));
  expect(phaseB.every((d) => d.outcome === 'delivered' && d.attempt === 1)).toBe(true);
  expect(phaseB).toHaveLength(targetUsers.length * 4);

  // C: the master dies; deliveries keep coming for every shard.
  await cluster.kill(master);
  const killedAt = Date.now();
  await book(users, 2);
  // Calendly retries the target shard's 503s; wait until there are some, then let the held
  // replica take over.
  await until('a 503 for the dead shard', 20_000, async () =>
    (await deliveries()).some((d) => d.status === 503) ? true : undefined,
  );
  cluster.thaw(replica);
  const promoted = await cluster.waitForNewMaster(slot, master, 30_000);
  const promotedAt = Date.now();
  expect(promoted.id).toBe(replica.id);
  world.process('worker').child.kill('SIGCONT');

  // D: after the failover.
  await book(users, 1);
  expect((await control.settle({ timeoutMs: 90_000 })).settled).toBe(true);

  const all = await deliveries();
  const refused = all.filter((d) => d.outcome !== 'delivered');
  // Only 503s, only for the dead shard, only between the kill and the promotion.
  expect(refused.length).toBeGreaterThan(0);
  expect(refused.filter((d) => d.status !== 503)).toEqual([]);
  expect(refused.filter((d) => !targetSubscriptions.has(d.subscriptionUri))).toEqual([]);
  for (const d of refused) {
    const at = Date.parse(d.at);
    expect(at).toBeGreaterThanOrEqual(killedAt);
    expect(at).toBeLessThanOrEqual(promotedAt + REDISCOVERY_MS);
  }
  const acknowledged = new Set(all.filter((d) => d.outcome === 'delivered').map((d) => d.body));
  const bookings = [...booked.values()].flat();
  expect(acknowledged.size).toBe(bookings.length);

  // Redis lost exactly what only the dead master held: the jobs of phase B.
  const lostJobs = new Set(phaseB.map((d) => d.body));
  await until('every surviving job in the inbox', 60_000, async () =>
    (await inboxBodies()).size >= acknowledged.size - lostJobs.size ? true : undefined,
  );
  const inbox = await inboxBodies();
  const invitee = (body: string) => (JSON.parse(body) as { payload: { uri: string } }).payload.uri;
  const missing = [...acknowledged].filter((body) => !inbox.has(body)).map(invitee);
  expect(missing.sort()).toEqual([...lostJobs].map(invitee).sort());

  // The repair: one command, as an operator runs it after a failover.
  const reconcileAt = new Date();
  const out = runEntry('apps/worker/src/reconcile-cli.ts', [], {
    PATH: process.env.PATH,
    ...world.env,
  });
  // Every active connection of the database: these users, and other scenarios' still active.
  const asked = Number(/backfill of (\d+) active connections/.exec(out)?.[1]);
  expect(asked).toBeGreaterThanOrEqual(users.length);
  await until('every connection backfilled again', 90_000, async () => {
    const [row] = await sql<{ n: number }[]>`
      select count(*)::int as n from connections
      where id = any(${ids}::uuid[]) and last_backfilled_at > ${reconcileAt}
        and backfill_requested_at is null`;
    return row?.n === users.length ? true : undefined;
  });

  // Every booking is a meeting with its invitee, once.
  for (const user of users) {
    const wanted = booked.get(user.connectionId) ?? [];
    const meetings = await sql<{ calendly_event_uri: string; status: string }[]>`
      select calendly_event_uri, status from meetings where connection_id = ${user.connectionId}`;
    expect(meetings.map((m) => m.calendly_event_uri).sort()).toEqual(
      wanted.map((b) => b.eventUri).sort(),
    );
    expect(meetings.every((m) => m.status === 'active')).toBe(true);
    const invitees = await sql<{ calendly_invitee_uri: string }[]>`
      select calendly_invitee_uri from invitees where connection_id = ${user.connectionId}`;
    expect(invitees.map((i) => i.calendly_invitee_uri).sort()).toEqual(
      wanted.map((b) => b.inviteeUri).sort(),
    );
  }
  const created = await sql<{ meeting_id: string; n: number }[]>`
    select meeting_id, count(*)::int as n from changes
    where connection_id = any(${ids}::uuid[]) and type = 'meeting.created'
    group by meeting_id`;
  expect(created).toHaveLength(bookings.length);
  expect(created.filter((c) => c.n !== 1)).toEqual([]);
  const copies = await sql<{ n: number }[]>`
    select count(*)::int as n from event_inbox where connection_id = any(${ids}::uuid[])
    group by content_hash having count(*) > 1`;
  expect(copies).toEqual([]);

  // The repair is visible to operators.
  const metrics = await (await fetch(`${world.workerUrl}/metrics`)).text();
  const repairs = Number(/^calhook_backfill_repairs_total (\d+)/m.exec(metrics)?.[1] ?? 0);
  expect(repairs).toBeGreaterThanOrEqual(lostJobs.size);
  const last503 = Math.max(...refused.map((d) => Date.parse(d.at))) - promotedAt;
  console.log(
    `faults: failover of ${TARGET}: ${promotedAt - killedAt} ms without a master, ${refused.length} answers 503 (all for that shard, the last ${last503} ms after the promotion), ${lostJobs.size} acknowledged jobs lost with the master and repaired by backfill (${repairs} rows repaired), ${bookings.length} bookings in the meetings once each`,
  );
});
