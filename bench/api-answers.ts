// What checking every api answer against its documented schema costs: the largest answers the
// api gives (a 200-meeting page of GET /v1/users/:id/meetings, a 200-change page of
// GET /v1/changes, each meeting with an invitee and three answers, ~2 KB deliveries) served by
// the api as built, and side by side by the same app whose answers are only JSON.stringify'd
// (the baseline: what the api did before answers were checked). Requests go through
// `inject` (no sockets), alternating between the two apps, on one scratch database.
//
//   node bench/api-answers.ts            # 5 rounds of 100 requests per route and app
//
// Also the check alone, without the request around it: zod's encode of the parsed answer
// against JSON.stringify of it, in a loop, the steadier figure on a loaded machine.
//
// Env: DATABASE_URL, REDIS_URL (for the machine line only), BENCH_ROUNDS, BENCH_REQUESTS.
import { performance } from 'node:perf_hooks';
import { buildApiApp } from '../apps/api/src/index.ts';
import { changesPageSchema, meetingsPageSchema } from '../apps/api/src/schemas.ts';
import { ingestDelivery } from '../packages/meetings/src/index.ts';
import { createLogger } from '../packages/observability/src/index.ts';
import {
  createDatabase,
  describeMachine,
  inviteeCreatedBody,
  median,
  newEncryptionKey,
  numberSetting,
  round2,
  scratchDatabase,
  seedHooks,
} from './lib.ts';

const ROUNDS = numberSetting('BENCH_ROUNDS', 5);
const REQUESTS = numberSetting('BENCH_REQUESTS', 100);
const PAGE = 200;

const machine = await describeMachine();
console.log('machine', machine);

const scratch = await scratchDatabase('answers');
const handle = createDatabase(scratch.url, { max: 4 });
try {
  const keys = newEncryptionKey();
  const [hook] = await seedHooks(handle.db, keys, 1);
  if (!hook) throw new Error('no hook seeded');
  for (let seq = 1; seq <= PAGE; seq += 1) {
    const { body } = inviteeCreatedBody(hook.calendlyUserUri, seq);
    await ingestDelivery(
      handle.db,
      { hookId: hook.hookId, connectionId: hook.connectionId, body, receivedAt: new Date() },
      { now: () => new Date() },
    );
  }

  const token = 'bench-token';
  const build = () =>
    buildApiApp({
      logger: createLogger({ level: 'silent' }),
      db: handle.db,
      apiToken: token,
      checkReady: async () => {},
    });
  const checked = build();
  const baseline = build();
  // Set before the routes load (at ready): the baseline's answers skip the check.
  baseline.setSerializerCompiler(() => (data) => JSON.stringify(data));
  await Promise.all([checked.ready(), baseline.ready()]);

  const routes = {
    meetings: `/v1/users/${hook.userId}/meetings?limit=${PAGE}`,
    changes: `/v1/changes?limit=${PAGE}&userId=${hook.userId}`,
  };
  const time = async (app: typeof checked, url: string) => {
    const start = performance.now();
    const answer = await app.inject({ url, headers: { authorization: `Bearer ${token}` } });
    const ms = performance.now() - start;
    if (answer.statusCode !== 200) throw new Error(`${url} answered ${answer.statusCode}`);
    return { ms, bytes: answer.rawPayload.length };
  };

  // Both apps answer the same bytes; warm both up first.
  for (const url of Object.values(routes)) {
    const [a, b] = [await time(checked, url), await time(baseline, url)];
    if (a.bytes !== b.bytes) throw new Error(`${url}: the two apps answered different bodies`);
    for (let i = 0; i < 20; i += 1) await Promise.all([time(checked, url), time(baseline, url)]);
  }

  const rows: Record<string, string | number>[] = [];
  for (const [route, url] of Object.entries(routes)) {
    const perRound = { checked: [] as number[], baseline: [] as number[] };
    let bytes = 0;
    for (let round = 1; round <= ROUNDS; round += 1) {
      const samples = { checked: [] as number[], baseline: [] as number[] };
      for (let i = 0; i < REQUESTS; i += 1) {
        // Alternate which goes first, so neither always runs on a warmer cache.
        const order =
          i % 2 ? (['checked', 'baseline'] as const) : (['baseline', 'checked'] as const);
        for (const which of order) {
          const result = await time(which === 'checked' ? checked : baseline, url);
          samples[which].push(result.ms);
          bytes = result.bytes;
        }
      }
      perRound.checked.push(median(samples.checked));
      perRound.baseline.push(median(samples.baseline));
      console.log(
        JSON.stringify({
          route,
          round,
          checkedMedianMs: round2(median(samples.checked)),
          baselineMedianMs: round2(median(samples.baseline)),
        }),
      );
    }
    const c = median(perRound.checked);
    const b = median(perRound.baseline);
    rows.push({
      route: `GET ${route} (${PAGE} per page, ${Math.round(bytes / 1024)} KiB)`,
      'answer checked, median ms': round2(c),
      'baseline (stringify only), median ms': round2(b),
      'checked / baseline': round2(c / b),
      'check, ms per answer': round2(c - b),
    });
  }
  // The check alone, on the same answers.
  const documented = { meetings: meetingsPageSchema, changes: changesPageSchema };
  const alone: Record<string, string | number>[] = [];
  for (const [route, url] of Object.entries(routes)) {
    const answer = await checked.inject({ url, headers: { authorization: `Bearer ${token}` } });
    const body: unknown = answer.json();
    const schema = documented[route as keyof typeof documented];
    if (!schema.safeEncode(body as never).success)
      throw new Error(`${route}: answer off its schema`);
    const loop = (work: () => unknown) => {
      const medians: number[] = [];
      for (let round = 0; round < ROUNDS; round += 1) {
        const samples: number[] = [];
        for (let i = 0; i < REQUESTS; i += 1) {
          const start = performance.now();
          work();
          samples.push(performance.now() - start);
        }
        medians.push(median(samples));
      }
      return median(medians);
    };
    const check = loop(() => schema.safeEncode(body as never));
    const stringify = loop(() => JSON.stringify(body));
    alone.push({
      route: `GET ${route}`,
      'check (zod encode), median ms': round2(check),
      'JSON.stringify, median ms': round2(stringify),
      'check / stringify': round2(check / stringify),
    });
  }

  console.log(
    `\napi answers: ${ROUNDS} rounds x ${REQUESTS} requests per route and app (medians of round medians)`,
  );
  console.table(rows);
  console.log('\nthe check alone, on the same answers');
  console.table(alone);
  await Promise.all([checked.close(), baseline.close()]);
} finally {
  await handle.close();
  await scratch.drop();
}
