// Steady load shared by the benchmarks: an open-loop sender of signed deliveries to the
// receiver, and a poller that watches sampled deliveries until the api lists their meetings.
import { Agent, request } from 'node:http';
import { signatureHeader } from '../packages/webhooks/src/index.ts';
import type { BenchHook } from './lib.ts';

/**
 * Calls `send` at `rate` per second for `seconds`: a tick every 10 ms sends whatever the
 * schedule owes, so a slow answer never slows the sender down (no coordinated omission).
 * Resolves with the seconds sending took.
 */
export function openLoop(rate: number, seconds: number, send: () => void): Promise<number> {
  const begun = performance.now();
  const total = Math.round(rate * seconds);
  let sent = 0;
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      const owed = Math.min(total, Math.floor(((performance.now() - begun) / 1000) * rate));
      while (sent < owed) {
        sent += 1;
        send();
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve((performance.now() - begun) / 1000);
      }
    }, 10);
  });
}

/** Connections the sender keeps to the receiver; a delivery waits for a free one. */
const SENDER_SOCKETS = 128;
/** A request unanswered this long counts as failed, so a run always ends. */
const SEND_TIMEOUT_MS = 30_000;

/**
 * Posts signed deliveries to the receiver over at most SENDER_SOCKETS keep-alive connections
 * and counts the answers; `settle()` waits for every request still in flight, `close()` drops
 * the connections. (An unbounded client opened one connection per request in flight: at
 * 1,000/s on a loaded machine, tens of thousands, and the sender itself stalled.)
 */
export function deliverySender(receiverUrl: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: SENDER_SOCKETS });
  const inFlight = new Set<Promise<void>>();
  const counts = { sent: 0, accepted: 0, failed: 0 };
  const postOnce = (path: string, headers: Record<string, string>, body: string) =>
    new Promise<number>((resolve) => {
      const req = request(
        new URL(path, receiverUrl),
        {
          method: 'POST',
          agent,
          headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
          timeout: SEND_TIMEOUT_MS,
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', () => resolve(0));
        },
      );
      req.on('timeout', () => req.destroy(new Error('no answer')));
      req.on('error', () => resolve(0));
      req.end(body);
    });
  return {
    counts,
    /** `done` gets whether the receiver answered 200, and when (performance.now()). */
    post(hook: BenchHook, body: string, done: (accepted: boolean, at: number) => void): void {
      const t = Math.floor(Date.now() / 1000);
      counts.sent += 1;
      const p = postOnce(
        `/webhooks/calendly/${hook.hookId}`,
        {
          'content-type': 'application/json',
          'calendly-webhook-signature': signatureHeader(hook.signingKey, t, body),
        },
        body,
      )
        .then((status) => {
          const accepted = status === 200;
          if (accepted) counts.accepted += 1;
          else counts.failed += 1;
          done(accepted, performance.now());
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
    async settle(): Promise<void> {
      await Promise.all([...inFlight]);
    },
    close(): void {
      agent.destroy();
    },
  };
}

export interface ListedSample {
  userId: string;
  /** The meeting's start: the api is asked for the one-second window from it. */
  start: Date;
  sentAt: number;
  /** When the receiver answered 200 (performance.now()), once it has. */
  acceptedAt?: number;
  /** When the api first listed the meeting. */
  listedAt?: number;
  polledAt: number;
}

/** Polls at most this many samples a pass, every 20 ms. */
const POLLS_PER_TICK = 8;

/**
 * Watches samples until `GET /v1/users/:userId/meetings` lists each one's meeting, as an app
 * polling per user would see it. `finish(graceMs)` stops once every sample is listed or
 * `graceMs` has passed; samples still missing then are lost, not latencies.
 */
export function watchListed(apiUrl: string, apiToken: string) {
  const samples = new Map<number, ListedSample>();
  const pending = new Map<number, ListedSample>();
  const listed: ListedSample[] = [];
  let stopAt = Number.POSITIVE_INFINITY;
  const loop = (async () => {
    for (;;) {
      if (performance.now() >= stopAt) break;
      if (stopAt !== Number.POSITIVE_INFINITY && pending.size === 0) break;
      // At most POLLS_PER_TICK requests a pass, least recently polled first: when latency
      // grows, polling every sample every pass would load the API (and the cores every role
      // shares) in proportion and feed the latency it measures.
      const due = [...pending]
        .sort(([, a], [, b]) => a.polledAt - b.polledAt)
        .slice(0, POLLS_PER_TICK);
      const checks = due.map(async ([id, sample]) => {
        sample.polledAt = performance.now();
        const from = sample.start.toISOString();
        const to = new Date(sample.start.getTime() + 1000).toISOString();
        // A failed poll (the machine is saturated) is tried again on the next pass.
        const res = await fetch(
          `${apiUrl}/v1/users/${sample.userId}/meetings?from=${from}&to=${to}&limit=1`,
          { headers: { authorization: `Bearer ${apiToken}` } },
        ).catch(() => undefined);
        if (!res) return;
        const body = (await res.json().catch(() => ({}))) as { meetings?: unknown[] };
        if (res.status === 200 && body.meetings && body.meetings.length > 0 && pending.has(id)) {
          sample.listedAt = performance.now();
          listed.push(sample);
          pending.delete(id);
        }
      });
      await Promise.all(checks);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return {
    watch(id: number, sample: Omit<ListedSample, 'polledAt'>): void {
      const watched = { ...sample, polledAt: 0 };
      samples.set(id, watched);
      pending.set(id, watched);
    },
    /** The sample's delivery was accepted at `at`. */
    accepted(id: number, at: number): void {
      const sample = samples.get(id);
      if (sample) sample.acceptedAt = at;
    },
    /** The sample's delivery was not accepted: nothing to wait for. */
    forget(id: number): void {
      samples.delete(id);
      pending.delete(id);
    },
    async finish(graceMs: number): Promise<{ listed: ListedSample[]; lost: number }> {
      stopAt = performance.now() + graceMs;
      await loop;
      return { listed, lost: pending.size };
    },
  };
}
