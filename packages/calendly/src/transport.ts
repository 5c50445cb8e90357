// Sends one logical request to Calendly over undici: maps the resource path onto the configured
// base, retries what is safe to retry, classifies failures and logs each one without secrets.
import { inSpan, type SpanHandle } from '@calhook/observability';
import type { Dispatcher } from 'undici';
import { CalendlyError, errorFromResponse, errorFromTransport } from './errors.ts';
import { createRateGate, type RateGate, spentWindowWaitMs } from './rate-gate.ts';
import { redactPath } from './redact.ts';
import { targetFor } from './resource-path.ts';
import { decideRetry, type RetryPolicy } from './retry-policy.ts';
import { parseCleanJson } from './text.ts';

/** The pino subset this client uses. */
export interface CalendlyLogger {
  warn(obj: Record<string, unknown>, msg?: string): void;
  debug?(obj: Record<string, unknown>, msg?: string): void;
}

/**
 * The largest response body read, 4 MiB. Calendly's biggest answers are list pages of 100
 * scheduled events or invitees: about 200 KB typically, more with ten long answers per invitee.
 * Refusing a genuine page would stall backfill for good, so the cap sits an order of magnitude
 * above that; what it stops is a broken proxy or a wrong CALENDLY_API_URL streaming without
 * end, which would otherwise be held in memory whole, once per concurrent call.
 */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface TransportOptions {
  dispatcher: Dispatcher;
  headersTimeoutMs: number;
  bodyTimeoutMs: number;
  /** Bodies past this many bytes are not read further; default MAX_RESPONSE_BYTES. */
  maxResponseBytes?: number;
  policy: RetryPolicy;
  sleep: (ms: number) => Promise<void>;
  random: () => number;
  now: () => number;
  logger?: CalendlyLogger | undefined;
  /** Holds a user's calls back while Calendly says their window is spent (one by default). */
  gate?: RateGate;
}

export interface HttpRequest {
  /** `oauth` endpoints answer RFC 6749 errors and are classified accordingly. */
  endpoint: 'api' | 'oauth';
  baseUrl: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Path and query, relative to `baseUrl`. */
  path: string;
  headers: Record<string, string>;
  body?: string;
  /** Non-2xx statuses that count as success (404 for a DELETE: already gone). */
  alsoOk?: number[];
}

export interface HttpResponse {
  status: number;
  body: unknown;
}

export interface Transport {
  send(request: HttpRequest): Promise<HttpResponse>;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    // Cleaned here, once: every object Calendly sends is text Postgres can store.
    return parseCleanJson(text);
  } catch {
    // Proxies and load balancers answer HTML or plain text; keep a bounded excerpt.
    return text.length > 2000 ? `${text.slice(0, 2000)}…` : text;
  }
}

/**
 * The body as text, or `null` once it passes `maxBytes`: then the stream is destroyed (closing
 * the socket) instead of being drained, so no more of it is received.
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  headers: Dispatcher.ResponseData['headers'],
  maxBytes: number,
): Promise<string | null> {
  const declared = Number(headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    body.destroy();
    return null;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      return null;
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function transportCode(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const code = (cause as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

export function createTransport(options: TransportOptions): Transport {
  const { dispatcher, policy, sleep, random, now, logger } = options;
  const maxBytes = options.maxResponseBytes ?? MAX_RESPONSE_BYTES;
  const gate = options.gate ?? createRateGate();

  async function attempt(request: HttpRequest, logPath: string): Promise<HttpResponse> {
    const target = targetFor(request.baseUrl, request.path);
    let response: Dispatcher.ResponseData;
    let text: string | null;
    try {
      response = await dispatcher.request({
        origin: target.origin,
        path: target.path,
        method: request.method,
        headers: request.headers,
        body: request.body ?? null,
        headersTimeout: options.headersTimeoutMs,
        bodyTimeout: options.bodyTimeoutMs,
      });
      // Read to the end (or destroyed past the cap), or the keep-alive socket cannot be reused.
      text = await readCapped(response.body, response.headers, maxBytes);
    } catch (cause) {
      throw errorFromTransport(request.method, logPath, cause);
    }
    const status = response.statusCode;
    const key = gateKey(request);
    const spent = key === undefined ? 0 : spentWindowWaitMs(response.headers);
    if (key !== undefined && spent > 0) gate.holdUntil(key, now() + spent);
    const ok = (status >= 200 && status < 300) || request.alsoOk?.includes(status);
    if (text === null && ok) {
      throw new CalendlyError({
        kind: 'invalid_response',
        method: request.method,
        path: logPath,
        status,
        message: `Calendly ${request.method} ${logPath} answered ${status} with a body over ${maxBytes} bytes`,
      });
    }
    // An oversized error page still says what failed by its status (a 503 stays retryable).
    const body = text === null ? `(body over ${maxBytes} bytes, not read)` : parseBody(text);
    if (ok) return { status, body };
    throw errorFromResponse({
      method: request.method,
      path: logPath,
      status,
      headers: response.headers,
      body,
      endpoint: request.endpoint,
      now: now(),
    });
  }

  /**
   * Waits out a hold on the user's window, or, when it is longer than a 429 would be waited
   * out, fails as a 429 would (without calling Calendly): the caller delays its work.
   */
  async function waitForWindow(key: string, request: HttpRequest, logPath: string) {
    const wait = gate.waitMs(key, now());
    if (wait === 0) return;
    if (wait > policy.maxRateLimitWaitMs) {
      throw new CalendlyError({
        kind: 'rate_limited',
        method: request.method,
        path: logPath,
        status: 429,
        retryAfterMs: wait,
        message: `Calendly ${request.method} ${logPath} held back: the user's rate-limit window is spent`,
      });
    }
    await sleep(wait);
  }

  async function sendWithRetries(request: HttpRequest, logPath: string, span: SpanHandle) {
    const key = gateKey(request);
    for (let retriesDone = 0; ; retriesDone++) {
      let error: CalendlyError;
      span.setAttributes({ 'calhook.calendly.attempts': retriesDone + 1 });
      try {
        if (key !== undefined) await waitForWindow(key, request, logPath);
        const response = await attempt(request, logPath);
        span.setAttributes({ 'http.response.status_code': response.status });
        return response;
      } catch (caught) {
        // Anything else (a malformed base URL) is a bug, not a Calendly failure.
        if (!(caught instanceof CalendlyError)) throw caught;
        error = caught;
      }
      const decision = decideRetry(request.method, error, retriesDone, policy, random);
      // A 429 surfaced to the caller holds the user's other calls until its reset too (one
      // waited out here is simply waited out).
      if (key !== undefined && !decision.retry && error.kind === 'rate_limited') {
        if (error.retryAfterMs) gate.holdUntil(key, now() + error.retryAfterMs);
      }
      logger?.warn(
        {
          method: request.method,
          path: logPath,
          status: error.status,
          kind: error.kind,
          phase: error.phase,
          errorCode: transportCode(error.cause),
          // `body` was redacted when the error was built.
          errorBody: error.body,
          attempt: retriesDone + 1,
          retryInMs: decision.retry ? decision.delayMs : undefined,
        },
        decision.retry ? 'Calendly request failed, retrying' : 'Calendly request failed',
      );
      if (!decision.retry) {
        if (error.status !== undefined) {
          span.setAttributes({ 'http.response.status_code': error.status });
        }
        throw error;
      }
      await sleep(decision.delayMs);
    }
  }

  return {
    send(request) {
      const logPath = redactPath(request.path);
      // One span per logical request, retries included; the path as logs show it.
      return inSpan(
        `Calendly ${request.method}`,
        {
          kind: 'client',
          attributes: {
            'http.request.method': request.method,
            'url.path': logPath,
            'calhook.calendly.endpoint': request.endpoint,
          },
        },
        (span) => sendWithRetries(request, logPath, span),
      );
    },
  };
}

/** The user a request counts against: its bearer token (API calls only). */
function gateKey(request: HttpRequest): string | undefined {
  return request.endpoint === 'api' ? request.headers.authorization : undefined;
}
