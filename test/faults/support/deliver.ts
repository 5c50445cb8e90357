// Sends signed deliveries to the real receiver over HTTP, many at once, the way Calendly does:
// a delivery answered 503 (or not answered) is sent again, re-signed with a fresh timestamp,
// until it gets a final answer. Every answer is recorded for the end-of-scenario comparison.
import { signatureHeader } from '@calhook/webhooks';

export interface Target {
  connectionId: string;
  url: string;
  signingKey: string;
}

export interface Delivery {
  target: Target;
  body: string;
}

export interface Answer {
  connectionId: string;
  body: string;
  /** 0 when the connection failed before any answer. */
  status: number;
  /** When the request was sent and answered, epoch ms. */
  sentAt: number;
  answeredAt: number;
  ms: number;
  retryAfter: string | null;
}

export interface SendOptions {
  concurrency?: number;
  /** Give up on a delivery that has no final answer after this long. */
  deadlineMs?: number;
  /** Pause between retries of one delivery. */
  retryDelayMs?: number;
  /** Header timestamp for a given send; defaults to now. */
  timestamp?: () => number;
  /** Called after each answer, e.g. to kill something once a share has been sent. */
  onAnswer?: (answer: Answer, answered: number) => void | Promise<void>;
}

/** Posts one delivery once; the answer, or status 0 when the request itself failed. */
export async function post(
  delivery: Delivery,
  timestamp = Math.floor(Date.now() / 1000),
): Promise<Answer> {
  const started = performance.now();
  const sentAt = Date.now();
  try {
    const response = await fetch(delivery.target.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader(
          delivery.target.signingKey,
          timestamp,
          delivery.body,
        ),
      },
      body: delivery.body,
      signal: AbortSignal.timeout(20_000),
    });
    await response.arrayBuffer();
    return {
      connectionId: delivery.target.connectionId,
      body: delivery.body,
      status: response.status,
      sentAt,
      answeredAt: Date.now(),
      ms: performance.now() - started,
      retryAfter: response.headers.get('retry-after'),
    };
  } catch {
    return {
      connectionId: delivery.target.connectionId,
      body: delivery.body,
      status: 0,
      sentAt,
      answeredAt: Date.now(),
      ms: performance.now() - started,
      retryAfter: null,
    };
  }
}

const retriable = (status: number) => status === 0 || status === 503;

/**
 * Sends every delivery, `concurrency` at a time, retrying 503s and failed connections.
 * Resolves with every answer in the order they came; throws if one never got a final answer.
 */
export async function sendAll(
  deliveries: Delivery[],
  options: SendOptions = {},
): Promise<Answer[]> {
  const concurrency = options.concurrency ?? 24;
  const deadline = Date.now() + (options.deadlineMs ?? 120_000);
  const answers: Answer[] = [];
  let next = 0;
  const lane = async () => {
    for (;;) {
      const delivery = deliveries[next++];
      if (!delivery) return;
      for (;;) {
        const answer = await post(delivery, options.timestamp?.());
        answers.push(answer);
        await options.onAnswer?.(answer, answers.length);
        if (!retriable(answer.status)) break;
        if (Date.now() > deadline) {
          throw new Error(
            `no final answer for a delivery before the deadline (last ${answer.status})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs ?? 200));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return answers;
}

/** Interleaves the stories of several users as a busy Calendly would, keeping each story's order. */
export function interleave(groups: Delivery[][]): Delivery[] {
  const queues = groups.map((group) => [...group]);
  const out: Delivery[] = [];
  while (queues.some((q) => q.length > 0)) {
    for (const queue of queues) {
      const item = queue.shift();
      if (item) out.push(item);
    }
  }
  return out;
}
