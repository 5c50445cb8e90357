// The Calendly simulator at scale (its own process, as benches run it): seeds users through
// POST /_sim/users/bulk, each with an organization, an OAuth token pair, a user-scoped webhook
// subscription and a few scheduled events; reports seed time and the process's RSS, and the
// median cost of API calls at the first batch and at full size (flat when every lookup is by
// key, growing with the number of users when a call scans them).
//
//   node bench/simulator.ts                                  # 100,000 users, 3 events each
//   BENCH_USERS=20000 node bench/simulator.ts                # a smaller run
//
// Env: BENCH_USERS (100000), BENCH_BATCH (10000), BENCH_EVENTS (3), BENCH_CALLS (200).
import { createSimulatorControl } from '../packages/calendly-simulator/src/index.ts';
import {
  describeMachine,
  median,
  mib,
  numberSetting,
  printTable,
  round1,
  round2,
  rssOf,
  sampleRss,
  startNode,
  stopAll,
} from './lib.ts';

const USERS = numberSetting('BENCH_USERS', 100_000);
const BATCH = numberSetting('BENCH_BATCH', 10_000);
const EVENTS = numberSetting('BENCH_EVENTS', 3);
const CALLS = numberSetting('BENCH_CALLS', 200);
const PORT = 4311;
const url = `http://127.0.0.1:${PORT}`;

console.log('machine', await describeMachine());

interface Seeded {
  users: string[];
  organizations: string[];
  accessTokens: string[];
}

/** Median ms of a few API calls, each for a random seeded user. */
async function callCosts(seeded: Seeded) {
  const pick = () => Math.floor(Math.random() * seeded.users.length);
  const timed = async (call: (i: number) => Promise<Response>) => {
    const times: number[] = [];
    for (let n = 0; n < CALLS; n += 1) {
      const i = pick();
      const started = performance.now();
      const response = await call(i);
      await response.arrayBuffer();
      if (!response.ok) throw new Error(`call answered ${response.status}`);
      times.push(performance.now() - started);
    }
    return round2(median(times));
  };
  const get = (i: number, path: string) =>
    fetch(`${url}${path}`, { headers: { authorization: `Bearer ${seeded.accessTokens[i]}` } });
  const user = (i: number) => encodeURIComponent(seeded.users[i] ?? '');
  return {
    'users/me ms': await timed((i) => get(i, '/users/me')),
    'list subscriptions ms': await timed((i) =>
      get(
        i,
        `/webhook_subscriptions?organization=${encodeURIComponent(seeded.organizations[i] ?? '')}&scope=user&user=${user(i)}`,
      ),
    ),
    'list events ms': await timed((i) => get(i, `/scheduled_events?user=${user(i)}`)),
    // A booking finds the subscriptions its change goes to (the drop fault records, never sends).
    'book ms': await timed((i) =>
      fetch(`${url}/_sim/book`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userUri: seeded.users[i] }),
      }),
    ),
  };
}

try {
  const sim = await startNode(
    'apps/simulator/src/main.ts',
    { SIM_PORT: String(PORT) },
    { readyUrl: `${url}/_sim/faults` },
  );
  const control = createSimulatorControl(url);
  // Deliveries of the bookings above are recorded as dropped, never sent.
  await control.faults({ drop: true });
  const idle = rssOf(sim.pid);
  const sampling = sampleRss(sim.pid);
  const seeded: Seeded = { users: [], organizations: [], accessTokens: [] };
  const rows: Record<string, string | number>[] = [];
  let seedMs = 0;
  while (seeded.users.length < USERS) {
    const count = Math.min(BATCH, USERS - seeded.users.length);
    const started = performance.now();
    const batch = await control.createUsers({
      count,
      eventsPerUser: EVENTS,
      // Nothing listens there: seeding sends nothing, and bookings' deliveries are dropped.
      webhookUrl: 'http://127.0.0.1:9/hooks/calendly',
    });
    seedMs += performance.now() - started;
    seeded.users.push(...batch.users);
    seeded.organizations.push(...batch.organizations);
    seeded.accessTokens.push(...batch.accessTokens);
    const size = seeded.users.length;
    if (size === Math.min(BATCH, USERS) || size === USERS) {
      const rss = rssOf(sim.pid);
      rows.push({
        users: size,
        'seed s (cumulative)': round1(seedMs / 1000),
        'RSS MiB': mib(rss),
        'RSS bytes per user': Math.round((rss - idle) / size),
        ...(await callCosts(seeded)),
      });
      console.log(JSON.stringify(rows.at(-1)));
    }
  }
  const { peak } = sampling();
  printTable(rows);
  console.log(
    `seeded ${USERS} users (${EVENTS} events, 1 subscription, 1 token pair each) in ${round1(seedMs / 1000)} s, ` +
      `${Math.round(USERS / (seedMs / 1000))} users/s; RSS idle ${mib(idle)} MiB, peak ${mib(peak)} MiB`,
  );
  await sim.stop();
} finally {
  await stopAll();
}
