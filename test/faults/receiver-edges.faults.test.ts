// Proves the receiver's edges against the real process: signatures at the tolerance limits and
// from skewed clocks, garbage bodies with valid signatures (200, recorded invalid, never
// retried), bodies over 1 MiB (413), and clients trickling their body (cut off by the request
// timeout while every other delivery is answered as usual).
import { connect } from 'node:net';
import { signatureHeader } from '@calhook/webhooks';
import { expect, it } from 'vitest';
import { expectInboxMatches, type SeededUser, seedUsers } from './support/check.ts';
import { type Answer, post, sendAll } from './support/deliver.ts';
import { writeHistory } from './support/history.ts';
import { useWorld } from './support/world.ts';

const MIB = 1024 * 1024;
// requestTimeout and connectionsCheckingInterval (the timer that enforces it) in the shared
// serverOptions: a trickling request must be cut off by their sum.
const REQUEST_TIMEOUT_MS = 15_000;
const CHECK_INTERVAL_MS = 2_000;

const running = useWorld(['receiver', 'worker']);
const { sql } = running;

interface Trickle {
  /** Resolves with how long the server kept the connection, and what it answered. */
  done: Promise<{ ms: number; answer: string; bytesSent: number }>;
}

/** Sends the headers of a signed delivery, then one body byte every 500 ms. */
function trickle(user: SeededUser, body: string): Trickle {
  const url = new URL(user.target.url);
  const socket = connect({ host: url.hostname, port: Number(url.port) });
  const started = Date.now();
  let answer = '';
  let bytesSent = 0;
  let timer: NodeJS.Timeout | undefined;
  const done = new Promise<{ ms: number; answer: string; bytesSent: number }>((resolve) => {
    socket.on('data', (chunk) => {
      answer += chunk.toString();
    });
    const finish = () => {
      clearInterval(timer);
      resolve({ ms: Date.now() - started, answer, bytesSent });
    };
    socket.once('close', finish);
    socket.once('error', () => {});
  });
  socket.once('connect', () => {
    const signature = signatureHeader(user.signingKey, Math.floor(Date.now() / 1000), body);
    socket.write(
      `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\n` +
        `content-length: ${Buffer.byteLength(body)}\r\ncalendly-webhook-signature: ${signature}\r\n\r\n`,
    );
    timer = setInterval(() => {
      if (socket.destroyed || bytesSent >= body.length - 1) return;
      socket.write(body[bytesSent] as string);
      bytesSent += 1;
    }, 500);
  });
  return { done };
}

/**
 * Posts with a timestamp `offset` seconds from the receiver's clock. The receiver compares
 * whole seconds, so an answer counts only when the second did not turn while it was in flight
 * (same machine, same clock); otherwise it is asked again.
 */
async function postAtOffset(user: SeededUser, body: string, offset: number): Promise<Answer> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const second = Math.floor(Date.now() / 1000);
    const answer = await post({ target: user.target, body }, second + offset);
    if (Math.floor(Date.now() / 1000) === second) return answer;
  }
  throw new Error('every attempt straddled a second boundary');
}

it('signature edges, garbage, oversized bodies and slow clients', async () => {
  const [user, other] = (await seedUsers(running.world, 2)) as [SeededUser, SeededUser];
  const history = writeHistory(user.calendlyUserUri, 400);
  const [first, ...rest] = history.bodies as [string, ...string[]];
  const answers: Answer[] = [];

  // Slow clients first: they trickle while everything below runs.
  const slowSince = Date.now();
  const slow = Array.from({ length: 8 }, () =>
    trickle(other, writeHistory(other.calendlyUserUri, 1).bodies[0] as string),
  );

  // Tolerance is 180 s both ways: 179 s off is accepted, 181 s off refused.
  const edges: [number, number, string | null][] = [
    [-179, 200, null],
    [179, 200, null],
    [-181, 401, 'stale_timestamp'],
    [181, 401, 'future_timestamp'],
  ];
  for (const [offset, status] of edges) {
    const body = rest.shift() as string;
    const answer = await postAtOffset(user, body, offset);
    answers.push(answer);
    expect({ offset, status: answer.status }).toEqual({ offset, status });
  }

  // Calendly's clock two minutes behind or ahead of ours: still accepted, as a burst.
  const skewed = rest.splice(0, 200);
  let turn = 0;
  answers.push(
    ...(await sendAll(
      skewed.map((body) => ({ target: user.target, body })),
      {
        concurrency: 16,
        timestamp: () => Math.floor(Date.now() / 1000) + (turn++ % 2 ? 120 : -120),
      },
    )),
  );

  // Garbage with valid signatures: accepted (Calendly must not retry it), recorded invalid.
  const garbage = [
    'not json at all',
    '{"event": "invitee.created", "payload":',
    '[]',
    '{}',
    JSON.stringify({ event: 'invitee.created', created_at: 'yesterday' }),
    JSON.stringify({
      event: 'invitee.created',
      created_at: '2026-01-01T00:00:00.000000Z',
      created_by: user.calendlyUserUri,
      payload: { uri: 42 },
    }),
  ];
  for (const body of garbage) {
    const answer = await post({ target: user.target, body });
    answers.push(answer);
    expect(answer.status).toBe(200);
  }

  // Exactly 1 MiB is accepted (and applied: JSON allows the trailing blanks); one byte more is 413.
  const atLimit = first.padEnd(MIB, ' ');
  const overLimit = `${atLimit} `;
  const accepted = await post({ target: user.target, body: atLimit });
  const refused = await post({ target: user.target, body: overLimit });
  answers.push(accepted, refused);
  expect([accepted.status, refused.status]).toEqual([200, 413]);

  // While the slow clients still hold their connections, ordinary deliveries go through at speed.
  const ordinary = await sendAll(
    rest.map((body) => ({ target: user.target, body })),
    { concurrency: 16 },
  );
  answers.push(...ordinary);
  expect(ordinary.every((a) => a.status === 200)).toBe(true);
  const slowest = Math.max(...ordinary.map((a) => a.ms));
  expect(slowest).toBeLessThan(REQUEST_TIMEOUT_MS / 3);
  // All of the above happened while the trickling clients were still connected.
  expect(Date.now() - slowSince).toBeLessThan(REQUEST_TIMEOUT_MS - 1_000);

  const trickled = await Promise.all(slow.map((s) => s.done));
  for (const t of trickled) {
    // Cut off mid-body by the server, not finished by the client, and not kept forever.
    expect(t.bytesSent).toBeLessThan(Buffer.byteLength(first) - 1);
    expect(t.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 1_000);
    expect(t.ms).toBeLessThan(REQUEST_TIMEOUT_MS + CHECK_INTERVAL_MS + 3_000);
    expect(t.answer).toMatch(/^HTTP\/1\.1 408 /);
  }

  // Every 200 is in the inbox exactly once; nothing refused is; garbage is invalid, processed once.
  await expectInboxMatches(sql, [user, other], answers, {
    timeoutMs: 60_000,
    outcomes: ['applied', 'stale', 'invalid'],
  });
  const invalid = await sql<{ body: string }[]>`
    select body from event_inbox where connection_id = ${user.connectionId} and outcome = 'invalid'`;
  expect(invalid.map((r) => r.body).sort()).toEqual([...garbage].sort());
  const metrics = await (await fetch(`${running.world.workerUrl}/metrics`)).text();
  const jobs = (outcome: string) =>
    Number(
      new RegExp(
        `calhook_jobs_total\\{job="ingest-deliveries",outcome="${outcome}"\\} (\\d+)`,
      ).exec(metrics)?.[1] ?? 0,
    );
  // Each accepted delivery went through a job that completed at its first attempt (several
  // deliveries to a job when they arrived together).
  expect({ retried: jobs('retried'), failed: jobs('failed') }).toEqual({ retried: 0, failed: 0 });
  expect(jobs('completed')).toBeGreaterThan(0);
  expect(jobs('completed')).toBeLessThanOrEqual(answers.filter((a) => a.status === 200).length);
  console.log(
    `faults: slowest ordinary delivery ${Math.round(slowest)} ms while ${slow.length} clients trickled; trickles cut after ${trickled.map((t) => t.ms).join(', ')} ms`,
  );
});
