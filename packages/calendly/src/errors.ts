// One error type for everything this client can fail with. Callers branch on `kind` (derived
// from the HTTP status or the transport failure), never on message text.
import { redact } from './redact.ts';

export type CalendlyErrorKind =
  | 'validation'
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'rate_limited'
  | 'server'
  | 'network'
  | 'oauth'
  /** A status none of the kinds above covers (another 4xx, an unfollowed 3xx). */
  | 'unexpected_status'
  /** A 2xx whose body does not have the shape Calendly documents. */
  | 'invalid_response';

/**
 * `before_send`: the connection was never established, so Calendly cannot have acted on the
 * request. `unknown`: bytes may have left; a POST may or may not have taken effect (a refresh
 * token may have been consumed).
 */
export type NetworkPhase = 'before_send' | 'unknown';

export interface ValidationDetail {
  parameter: string;
  message: string;
}

export interface CalendlyErrorInit {
  kind: CalendlyErrorKind;
  message: string;
  method: string;
  path: string;
  status?: number | undefined;
  body?: unknown;
  details?: ValidationDetail[] | undefined;
  retryAfterMs?: number | undefined;
  phase?: NetworkPhase | undefined;
  error?: string | undefined;
  errorDescription?: string | undefined;
  cause?: unknown;
}

export class CalendlyError extends Error {
  override name = 'CalendlyError';
  readonly kind: CalendlyErrorKind;
  /** HTTP status; undefined for `network` errors. */
  readonly status: number | undefined;
  readonly method: string;
  /** Request path, with secret query values redacted. */
  readonly path: string;
  /** Calendly's parsed error body, redacted. */
  readonly body: unknown;
  /** `validation`: Calendly's per-parameter complaints (empty when it gave none). */
  readonly details: ValidationDetail[];
  /** `rate_limited`: how long to wait before trying again. */
  readonly retryAfterMs: number | undefined;
  /** `network`: whether the request can have reached Calendly. */
  readonly phase: NetworkPhase | undefined;
  /** `oauth`: the RFC 6749 `error` code, e.g. `invalid_grant`. */
  readonly error: string | undefined;
  /** `oauth`: the RFC 6749 `error_description`. */
  readonly errorDescription: string | undefined;

  constructor(init: CalendlyErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.kind = init.kind;
    this.status = init.status;
    this.method = init.method;
    this.path = init.path;
    this.body = init.body === undefined ? undefined : redact(init.body);
    this.details = init.details ?? [];
    this.retryAfterMs = init.retryAfterMs;
    this.phase = init.phase;
    this.error = init.error;
    this.errorDescription = init.errorDescription;
  }

  /** The refresh token or code is spent, revoked or unknown: the user must reconnect. */
  get isInvalidGrant(): boolean {
    return this.kind === 'oauth' && this.error === 'invalid_grant';
  }
}

export function isCalendlyError(value: unknown): value is CalendlyError {
  return value instanceof CalendlyError;
}

/** `hasKind(err, 'conflict')` narrows and checks in one step. */
export function hasKind(value: unknown, kind: CalendlyErrorKind): value is CalendlyError {
  return value instanceof CalendlyError && value.kind === kind;
}

/**
 * Whether trying the same request again later may succeed (rate limit, 5xx, network). This says
 * nothing about safety: a POST that failed with `phase: 'unknown'` or a 5xx may already have
 * taken effect, so only idempotent requests should be retried on this alone.
 */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof CalendlyError)) return false;
  return error.kind === 'rate_limited' || error.kind === 'server' || error.kind === 'network';
}

/** When Calendly sends no usable header, wait a whole rate-limit window (limits are per minute). */
export const DEFAULT_RATE_LIMIT_WAIT_MS = 60_000;

// Above this an X-RateLimit-Reset value cannot be "seconds until reset" (a year), so it is read
// as a Unix timestamp, as some APIs send.
const EPOCH_THRESHOLD_SECONDS = 365 * 24 * 3600;

type HeaderValue = string | string[] | undefined;
type Headers = Record<string, HeaderValue>;

function header(headers: Headers, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  const first = Array.isArray(value) ? value[0] : value;
  const trimmed = first?.trim();
  return trimmed === undefined || trimmed === '' ? undefined : trimmed;
}

/**
 * How long a 429 asks us to wait: `Retry-After` (delta seconds or HTTP date), else
 * `X-RateLimit-Reset` (seconds until the window resets), else a whole window.
 */
export function retryAfterMsFrom(headers: Headers, now: number): number {
  const retryAfter = header(headers, 'retry-after');
  if (retryAfter !== undefined) {
    if (/^\d+(\.\d+)?$/.test(retryAfter)) return Math.ceil(Number(retryAfter) * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  const reset = header(headers, 'x-ratelimit-reset');
  if (reset !== undefined && /^\d+(\.\d+)?$/.test(reset)) {
    const seconds = Number(reset);
    if (seconds > EPOCH_THRESHOLD_SECONDS) return Math.max(0, Math.ceil(seconds * 1000 - now));
    return Math.ceil(seconds * 1000);
  }
  return DEFAULT_RATE_LIMIT_WAIT_MS;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(body: unknown, key: string): string | undefined {
  if (!isRecord(body)) return undefined;
  const value = body[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function detailsOf(body: unknown): ValidationDetail[] {
  if (!isRecord(body) || !Array.isArray(body.details)) return [];
  return body.details.flatMap((item: unknown) => {
    if (!isRecord(item)) return [];
    const parameter = typeof item.parameter === 'string' ? item.parameter : '';
    const message = typeof item.message === 'string' ? item.message : '';
    return [{ parameter, message }];
  });
}

function kindForStatus(status: number): CalendlyErrorKind {
  if (status === 400 || status === 422) return 'validation';
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 409) return 'conflict';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'server';
  return 'unexpected_status';
}

export interface ResponseFailure {
  method: string;
  /** Already redacted. */
  path: string;
  status: number;
  headers: Headers;
  body: unknown;
  /** The OAuth endpoints answer RFC 6749 errors (`{error, error_description}`). */
  endpoint: 'api' | 'oauth';
  now: number;
}

/** Classifies a non-2xx response by its status (and, for OAuth endpoints, its `error`). */
export function errorFromResponse(failure: ResponseFailure): CalendlyError {
  const { method, path, status, headers, body, endpoint } = failure;
  const base = { method, path, status, body };
  const title = stringField(body, 'title');
  const detail = stringField(body, 'message');
  const summary = [title, detail].filter((part) => part !== undefined).join(': ');
  const message = `Calendly ${method} ${path} failed with ${status}${summary ? `: ${summary}` : ''}`;

  // 429 and 5xx mean the same on both hosts (transient), so they keep their own kinds there too.
  if (endpoint === 'oauth' && status >= 400 && status < 500 && status !== 429) {
    const error = stringField(body, 'error') ?? `http_${status}`;
    const errorDescription = stringField(body, 'error_description');
    return new CalendlyError({
      ...base,
      kind: 'oauth',
      error,
      errorDescription,
      message: `Calendly ${method} ${path} failed with ${status}: ${error}${
        errorDescription ? ` (${errorDescription})` : ''
      }`,
    });
  }

  const kind = kindForStatus(status);
  return new CalendlyError({
    ...base,
    kind,
    message,
    details: kind === 'validation' ? detailsOf(body) : undefined,
    retryAfterMs: kind === 'rate_limited' ? retryAfterMsFrom(headers, failure.now) : undefined,
  });
}

// Failures that happen while opening the connection: no request byte can have been written.
const BEFORE_SEND_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
  // The dispatcher was closed before the request could be queued.
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
]);
const BEFORE_SEND_SYSCALLS = new Set(['connect', 'getaddrinfo']);

function codeOf(error: unknown): string | undefined {
  if (!isRecord(error) && !(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

function isBeforeSend(error: unknown, depth = 0): boolean {
  if (depth > 4 || error === null || typeof error !== 'object') return false;
  const code = codeOf(error);
  const syscall = (error as { syscall?: unknown }).syscall;
  if (code !== undefined && BEFORE_SEND_CODES.has(code)) return true;
  if (typeof syscall === 'string' && BEFORE_SEND_SYSCALLS.has(syscall)) return true;
  // TLS handshake failures (bad certificate) also stop before the request is written.
  if (code?.startsWith('ERR_TLS_') || code?.includes('CERT')) return true;
  // Happy-eyeballs connects fail with an AggregateError of per-address connect errors.
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.every((inner: unknown) => isBeforeSend(inner, depth + 1));
  }
  const cause = (error as { cause?: unknown }).cause;
  return cause !== undefined && isBeforeSend(cause, depth + 1);
}

export function networkPhaseOf(error: unknown): NetworkPhase {
  return isBeforeSend(error) ? 'before_send' : 'unknown';
}

/** Wraps a transport failure (connect error, reset, timeout) from undici. */
export function errorFromTransport(method: string, path: string, cause: unknown): CalendlyError {
  const phase = networkPhaseOf(cause);
  const code = codeOf(cause) ?? (cause instanceof Error ? cause.name : 'unknown');
  return new CalendlyError({
    kind: 'network',
    method,
    path,
    phase,
    cause,
    message: `Calendly ${method} ${path} failed (${code}, ${
      phase === 'before_send' ? 'nothing was sent' : 'outcome unknown'
    })`,
  });
}
