// Proves a worker killed with SIGKILL in the middle of a burst of app webhook deliveries loses
// none: once restarted, every change the burst put in the feed reaches the app's endpoint (a
// local HTTP server) with a 2xx at least once, under its change id.
import { type AppEndpoint, eventually, startAppEndpoint } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { expectBurstLanded, openSql, seedBurst } from './support/check.ts';
import { sendAll } from './support/deliver.ts';
import { killAll, startWorld, type World } from './support/world.ts';

const USERS = 10;
const EVENTS = 1_500;

let world: World;
let app: AppEndpoint;
let endpointId: string | undefined;
const sql = openSql();

beforeAll(async () => {
  app = await startAppEndpoint();
  world = await startWorld({ env: { WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: 'true' } });
  await Promise.all(['receiver', 'worker', 'api'].map((role) => world.start(role as never)));
});
afterAll(async () => {
  // Endpoints are deployment-wide: the next scenario's workers must not deliver to this one.
  if (endpointId) await world.api('DELETE', `/v1/webhook-endpoints/${endpointId}`);
  await killAll();
  await app.close();
  await sql.end({ timeout: 5 });
});

/** Every change of these users in the feed, paging until a page comes back empty. */
async function feedIds(userIds: string[]): Promise<Set<string>> {
  const ids = new Set<string>();
  for (const userId of userIds) {
    for (let after: string | undefined; ; ) {
      const query = new URLSearchParams({ userId, limit: '500', ...(after ? { after } : {}) });
      const { body } = (await world.api('GET', `/v1/changes?${query}`)) as {
        body: { changes: { id: string }[]; nextCursor: string };
      };
      for (const change of body.changes) ids.add(change.id);
      if (body.changes.length === 0) break;
      after = body.nextCursor;
    }
  }
  return ids;
}

it('SIGKILL of the worker mid-way through webhook deliveries: every change still arrives', async () => {
  const created = await world.api('POST', '/v1/webhook-endpoints', { url: app.url });
  expect(created.status).toBe(201);
  endpointId = (created.body as { id: string }).id;

  const burst = await seedBurst(world, USERS, EVENTS);
  const userIds = new Set(burst.users.map((u) => u.userId));
  const ours = () => app.received.filter((r) => userIds.has(r.change?.userId));

  // Kill the worker once the app has had a share of the burst's webhooks, then restart it.
  let killed: Promise<void> | undefined;
  let receivedAtKill = -1;
  app.respond = () => {
    if (!killed && ours().length >= 200) {
      receivedAtKill = ours().length;
      killed = world.kill('worker').then(async () => {
        await world.start('worker');
      });
    }
    return 200;
  };
  const answers = await sendAll(burst.deliveries, { concurrency: 32 });
  await eventually(() => killed !== undefined, { what: 'the kill mid-way', timeoutMs: 120_000 });
  await killed;
  await expectBurstLanded(sql, burst, answers, { timeoutMs: 180_000 });

  const expected = await feedIds([...userIds]);
  // The kill came after some of the burst's webhooks and before all of them.
  expect(receivedAtKill).toBeGreaterThan(0);
  expect(receivedAtKill).toBeLessThan(expected.size);
  await eventually(
    () => {
      const delivered = new Set(
        ours()
          .filter((r) => r.answered === 200 && r.headers['webhook-id'] === r.change.id)
          .map((r) => r.change.id as string),
      );
      return [...expected].every((id) => delivered.has(id));
    },
    { what: 'every change of the burst at the endpoint', timeoutMs: 180_000, intervalMs: 500 },
  );
});
