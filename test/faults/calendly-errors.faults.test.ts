// Proves a Calendly failing half of all API and token calls (5xx and 429) during reconcile and
// token refresh loses no connection (none turns reauth_required or disconnected), and that once
// it recovers every connection converges by itself: exactly one active calhook subscription at
// Calendly, the one calhook's live hook names, and a fresh, working access token.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSimulatorControl } from '../../packages/calendly-simulator/src/control-client.ts';
import { createSealer } from '../../packages/crypto/src/index.ts';
import { openSql } from './support/check.ts';
import {
  killAll,
  type Simulator,
  startSimulatorProcess,
  startWorld,
  type World,
} from './support/world.ts';

const USERS = 6;
// Access tokens live 2 minutes and are refreshed 100 s before expiry (minus up to 20 s of
// jitter): each connection refreshes every 0–20 s, so the fault window sees many refreshes.
const TOKEN_LIFETIME_S = 120;

let sim: Simulator;
let world: World;
const sql = openSql();
beforeAll(async () => {
  sim = await startSimulatorProcess({ SIM_TOKEN_LIFETIME: String(TOKEN_LIFETIME_S) });
  world = await startWorld({
    simulatorUrl: sim.url,
    env: { RECONCILE_EVERY: '1m', REFRESH_BEFORE_EXPIRY: '100s' },
  });
  await Promise.all([world.start('receiver'), world.start('worker'), world.start('api')]);
});
afterAll(async () => {
  await killAll();
  await sql.end({ timeout: 5 });
});

interface ConnectionState {
  id: string;
  user_id: string;
  status: string;
  calendly_user_uri: string;
  access_token_enc: string | null;
  token_expires_at: Date | null;
}

it('50% of Calendly calls fail with 5xx/429: no connection lost, all converge after', async () => {
  const control = createSimulatorControl(sim.url);
  const sealer = createSealer([Buffer.from(world.env.ENCRYPTION_KEY as string, 'base64')]);
  const users: { userId: string; uri: string }[] = [];
  for (let i = 0; i < USERS; i++) {
    const simUser = await control.createUser({
      name: `Fault User ${i}`,
      email: `fault${i}@example.com`,
    });
    const tokens = await control.issueTokens(simUser.uri, { lifetimeSeconds: TOKEN_LIFETIME_S });
    const userId = `faults-calendly-${i}-${Date.now()}`;
    const connected = await world.api('PUT', `/v1/connections/${userId}`, {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
    });
    expect(connected.status).toBe(200);
    users.push({ userId, uri: simUser.uri });
  }
  const userIds = users.map((u) => u.userId);
  const ours = (url: string) => url.startsWith(`${world.receiverUrl}/webhooks/calendly/`);

  const states = () => sql<ConnectionState[]>`
    select id, user_id, status, calendly_user_uri, access_token_enc, token_expires_at
    from connections where user_id = any(${userIds})`;
  const seenStatuses = new Set<string>();
  const watch = async () => {
    for (const row of await states()) seenStatuses.add(row.status);
  };

  // Give reconcile real work under the faults: half the subscriptions deleted behind calhook's
  // back, the other half disabled.
  const before = (await control.subscriptions()).filter((s) => ours(s.callback_url));
  expect(before).toHaveLength(USERS);
  for (const [i, subscription] of before.entries()) {
    if (i % 2 === 0) await control.deleteSubscription(subscription.uri);
    else await control.setSubscriptionState(subscription.uri, 'disabled');
  }

  await control.faults({ apiErrorRate: 0.5 });
  const faultsSince = Date.now();
  for (const userId of userIds) {
    expect((await world.api('POST', `/v1/connections/${userId}/reconcile`)).status).toBe(202);
  }
  // The faults stay on for at least 30 s, and until the token endpoint has both failed (an
  // injected 5xx/429) and succeeded (a rotation) for as many calls as there are users: counts
  // over all users, which grow steadily, so the window never waits on one user's luck.
  const deadline = Date.now() + 150_000;
  let window = { failed: 0, rotated: 0 };
  for (;;) {
    await watch();
    const during = (await control.tokenRequests()).filter((r) => Date.parse(r.at) > faultsSince);
    window = {
      failed: during.filter((r) => r.status === 500 || r.status === 429).length,
      rotated: during.filter((r) => r.status === 200).length,
    };
    if (window.failed >= USERS && window.rotated >= USERS && Date.now() - faultsSince > 30_000) {
      break;
    }
    if (Date.now() > deadline) {
      throw new Error(`too few token calls under the faults: ${JSON.stringify(window)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  await control.faults({});

  // Converges by itself: the scheduled reconcile (every minute) and refresh jobs do the work.
  const converged = Date.now();
  let last = '';
  for (;;) {
    await watch();
    const subscriptions = await control.subscriptions();
    const hooks = await sql<{ user_id: string; subscription_uri: string | null }[]>`
      select c.user_id, h.subscription_uri from webhook_hooks h join connections c on c.id = h.connection_id
      where c.user_id = any(${userIds}) and h.state = 'active'`;
    const problems: string[] = [];
    for (const row of await states()) {
      const active = subscriptions.filter(
        (s) => s.user === row.calendly_user_uri && ours(s.callback_url) && s.state === 'active',
      );
      const live = hooks.filter((h) => h.user_id === row.user_id);
      if (active.length !== 1)
        problems.push(`${row.user_id}: ${active.length} active subscriptions`);
      else if (live.length !== 1 || live[0]?.subscription_uri !== active[0]?.uri) {
        problems.push(`${row.user_id}: live hook does not name the subscription`);
      }
      if (
        !row.access_token_enc ||
        !row.token_expires_at ||
        row.token_expires_at.getTime() < Date.now() + 5_000
      ) {
        problems.push(`${row.user_id}: token not fresh`);
      } else {
        const me = await fetch(`${sim.url}/users/me`, {
          headers: {
            authorization: `Bearer ${sealer.open(row.access_token_enc, { purpose: 'access_token', id: row.id })}`,
          },
        });
        if (me.status !== 200) problems.push(`${row.user_id}: token refused (${me.status})`);
      }
    }
    if (problems.length === 0) break;
    last = problems.join('; ');
    if (Date.now() - converged > 180_000) throw new Error(`did not converge: ${last}`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
  // Not one connection was ever anything but active.
  expect([...seenStatuses]).toEqual(['active']);
  console.log(
    `faults: token endpoint under faults: ${window.failed} failed, ${window.rotated} rotated in ${converged - faultsSince} ms; converged ${Date.now() - converged} ms after recovery`,
  );
});
