// Proves a connection with 5-second tokens stays usable for a minute: the refresh job renews each token before it expires, once per lifetime, and no call ever meets a 401.
import { hasKind } from '@calhook/calendly';
import { createLogger } from '@calhook/observability';
import {
  createWorkers,
  jobCatalog,
  PermanentJobError,
  type Processor,
  type ProcessorMap,
} from '@calhook/queue';
import { testRedis } from '@calhook/testing';
import { afterEach, expect, it } from 'vitest';
import { refreshTokenProcessor } from '../../../apps/worker/src/processors/refresh-token.ts';
import {
  connectionState,
  refreshRequests,
  type TokenFixture,
  tokenFixture,
} from './token-fixture.ts';

const LIFETIME_S = 5;
const LEAD_MS = 2_000;
const RUN_MS = 60_000;
const CALL_EVERY_MS = 200;

let fixture: TokenFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

it(
  'renews 5-second tokens through the refresh job for a minute without a single 401',
  async () => {
    const f = await tokenFixture({
      simulator: { accessTokenLifetimeSeconds: LIFETIME_S },
      service: { refreshBeforeExpiryMs: LEAD_MS, expiryMarginMs: 1_000, random: () => 0.5 },
    });
    fixture = f;
    const notHere: Processor<never> = async () => {
      throw new PermanentJobError('not part of this test');
    };
    const workers = createWorkers({
      prefix: f.prefix,
      queues: ['connections'],
      logger: createLogger({ level: 'silent' }),
      connection: testRedis,
      processors: {
        // Every other job is out of scope here and would fail loudly.
        ...(Object.fromEntries(
          Object.keys(jobCatalog).map((name) => [name, notHere]),
        ) as ProcessorMap),
        'refresh-token': refreshTokenProcessor({ tokens: f.tokens }),
      },
    });
    try {
      const { connectionId, user } = await f.connect({ lifetimeSeconds: LIFETIME_S });
      await f.tokens.scheduleRefresh(connectionId);

      const started = Date.now();
      let calls = 0;
      let failures = 0;
      let unauthorized = 0;
      while (Date.now() - started < RUN_MS) {
        const tick = Date.now();
        await f.tokens
          .withAccessToken(connectionId, async (token) => {
            try {
              return await f.calendly.getCurrentUser(token);
            } catch (error) {
              if (hasKind(error, 'unauthenticated')) unauthorized++;
              throw error;
            }
          })
          .then(
            () => calls++,
            () => failures++,
          );
        await new Promise((resolve) =>
          setTimeout(resolve, Math.max(0, CALL_EVERY_MS - (Date.now() - tick))),
        );
      }
      const elapsed = Date.now() - started;

      expect({ failures, unauthorized }).toEqual({ failures: 0, unauthorized: 0 });
      expect(calls).toBeGreaterThan(RUN_MS / CALL_EVERY_MS / 2);

      const requests = await refreshRequests(f.sim, user.uri);
      expect(requests.every((r) => r.outcome === 'ok')).toBe(true);
      // One refresh per token: a token is refreshed LEAD + jitter (0.5 x 20 % of LEAD) before
      // its computed expiry, which is up to 1 s early because Calendly's created_at is whole
      // seconds. So consecutive refreshes are 5 - 2.2 - [0, 1] s apart, plus job latency.
      const shortest = LIFETIME_S * 1000 - LEAD_MS - 200 - 1_000 - 100;
      const longest = LIFETIME_S * 1000 - LEAD_MS - 200 + 500;
      const times = requests.map((r) => Date.parse(r.at));
      const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
      for (const gap of gaps) {
        expect(gap).toBeGreaterThanOrEqual(shortest);
        expect(gap).toBeLessThanOrEqual(longest);
      }
      expect(requests.length).toBeGreaterThanOrEqual(Math.floor(elapsed / longest) - 1);
      expect(requests.length).toBeLessThanOrEqual(Math.ceil(elapsed / shortest) + 1);
      expect(f.outcomes.every((o) => o === 'success')).toBe(true);
      expect((await connectionState(f, connectionId)).status).toBe('active');
    } finally {
      await workers.close();
    }
  },
  RUN_MS + 30_000,
);
