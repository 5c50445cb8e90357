import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server } from 'node:http';
import { type FastifyHttpOptions, type FastifyInstance, LogController } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Level of this route's request line when it answers below 400 (default `info`). A route
     * answering thousands of times a second says `debug`: its successes are then counted in
     * one `info` line per interval instead. Every 4xx and 5xx keeps a line of its own.
     */
    successLogLevel?: 'info' | 'debug' | 'trace';
  }
  interface FastifyRequest {
    /** Why the answer is not a success (a 401's signature reason), for the request line. */
    logReason: string | null;
  }
}

// What a client may choose as its request id: enough for UUIDs, trace ids and
// `service:span.id` forms, and nothing that could break a log line or a log query (quotes,
// line breaks, spaces, commas of two joined headers) or bloat every line of the request.
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The client's `x-request-id` when it is 1-128 characters of [A-Za-z0-9._:-], else a new UUID. */
export function requestIdFor(header: string | string[] | undefined): string {
  return typeof header === 'string' && CLIENT_REQUEST_ID.test(header) ? header : randomUUID();
}

/** Fastify options shared by every role: request ids from `x-request-id` or fresh ones. */
export const serverOptions = {
  // Fastify's own two lines per request are replaced by the one written in logRequests.
  logController: new LogController({ disableRequestLogging: true }),
  // Not `requestIdHeader`: Fastify would take the header's value as it came.
  requestIdHeader: false,
  genReqId: (req: IncomingMessage) => requestIdFor(req.headers['x-request-id']),
  requestTimeout: 15_000,
  // Node enforces the later of headersTimeout and requestTimeout, so its default 60 s
  // headersTimeout (Fastify sets requestTimeout only after creating the server) let a client
  // trickling its body hold a socket ~90 s. Checked every 2 s instead of every 30 s.
  http: { headersTimeout: 10_000, connectionsCheckingInterval: 2_000 },
  connectionTimeout: 20_000,
  keepAliveTimeout: 72_000,
  return503OnClosing: true,
} satisfies FastifyHttpOptions<Server>;

const levelValues: Record<string, number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: Number.POSITIVE_INFINITY,
};

export interface RequestLogOptions {
  /** How often the counts of successes left out of the log are written; default 60 s. */
  summaryIntervalMs?: number;
}

/**
 * One log line per request, written when the answer has gone out: `error` for 5xx, `info` for
 * 4xx (with `reason` when the handler gave one) and for successes, unless the route asks for
 * its successes at a lower level (`config.successLogLevel`). Successes whose line the logger's
 * level leaves out are counted per route and written at `info` once per interval (`requests
 * answered`), so a quiet log still shows that traffic flows.
 */
export function logRequests(app: FastifyInstance, options: RequestLogOptions = {}): void {
  app.decorateRequest('logReason', null);
  const quiet = new Map<string, number>();
  let since = Date.now();
  const summarise = () => {
    if (quiet.size === 0) return;
    const seconds = Math.round((Date.now() - since) / 1000);
    for (const [route, answered] of quiet) {
      app.log.info({ route, answered, seconds }, 'requests answered');
    }
    quiet.clear();
    since = Date.now();
  };
  const timer = setInterval(summarise, options.summaryIntervalMs ?? 60_000).unref();
  app.addHook('onClose', (_app, done) => {
    clearInterval(timer);
    summarise();
    done();
  });

  // A callback hook, not an async one: it runs for every request and needs no promise.
  app.addHook('onResponse', (request, reply, done) => {
    const status = reply.statusCode;
    const url = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
    const level =
      status >= 500
        ? 'error'
        : status >= 400
          ? 'info'
          : (request.routeOptions.config.successLogLevel ?? 'info');
    const log = request.log;
    if ((levelValues[log.level] ?? 0) > (levelValues[level] ?? 0)) {
      // Left out by the level: a success is still counted for the summary line.
      if (status < 400) quiet.set(url, (quiet.get(url) ?? 0) + 1);
    } else {
      log[level](
        {
          method: request.method,
          url,
          hookId: (request.params as { hookId?: string } | undefined)?.hookId,
          status,
          ...(request.logReason === null ? {} : { reason: request.logReason }),
          ms: Math.round(reply.elapsedTime * 10) / 10,
        },
        'request',
      );
    }
    done();
  });
}
