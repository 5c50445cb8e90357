// Proves failures are classified by status, headers and transport error codes, never by text.
import { describe, expect, it } from 'vitest';
import {
  CalendlyError,
  DEFAULT_RATE_LIMIT_WAIT_MS,
  errorFromResponse,
  errorFromTransport,
  hasKind,
  isRetryable,
  retryAfterMsFrom,
} from './errors.ts';

const NOW = Date.parse('2025-01-01T00:00:00Z');

function fromStatus(
  status: number,
  body: unknown = {},
  headers = {},
  endpoint: 'api' | 'oauth' = 'api',
) {
  return errorFromResponse({
    method: 'GET',
    path: '/x',
    status,
    headers,
    body,
    endpoint,
    now: NOW,
  });
}

describe('errorFromResponse', () => {
  it.each([
    [400, 'validation'],
    [401, 'unauthenticated'],
    [403, 'forbidden'],
    [404, 'not_found'],
    [409, 'conflict'],
    [429, 'rate_limited'],
    [500, 'server'],
    [502, 'server'],
    [503, 'server'],
    [418, 'unexpected_status'],
    [302, 'unexpected_status'],
  ])('maps %i to %s', (status, kind) => {
    const error = fromStatus(status);
    expect(error.kind).toBe(kind);
    expect(error.status).toBe(status);
    expect(error).toBeInstanceOf(CalendlyError);
  });

  it('keeps validation details and the message', () => {
    const error = fromStatus(400, {
      title: 'Invalid Argument',
      message: 'The supplied parameters are invalid.',
      details: [{ parameter: 'url', message: 'must be a valid URL' }],
    });
    expect(error.details).toEqual([{ parameter: 'url', message: 'must be a valid URL' }]);
    expect(error.message).toContain('The supplied parameters are invalid.');
  });

  it('keeps the 403 message Calendly gives a free plan', () => {
    const error = fromStatus(403, {
      title: 'Permission Denied',
      message: 'Please upgrade your Calendly account to Standard',
    });
    expect(error.kind).toBe('forbidden');
    expect(error.message).toContain('Please upgrade your Calendly account to Standard');
    expect(error.body).toEqual({
      title: 'Permission Denied',
      message: 'Please upgrade your Calendly account to Standard',
    });
  });

  it('redacts secrets echoed in an error body', () => {
    const error = fromStatus(400, { message: 'bad', signing_key: 'k-123', nested: { token: 't' } });
    expect(JSON.stringify(error.body)).not.toContain('k-123');
    expect(error.body).toEqual({
      message: 'bad',
      signing_key: '[redacted]',
      nested: { token: '[redacted]' },
    });
  });

  it('classifies OAuth endpoint 4xx as oauth and flags invalid_grant', () => {
    const error = fromStatus(
      400,
      { error: 'invalid_grant', error_description: 'The provided authorization grant is invalid' },
      {},
      'oauth',
    );
    expect(error.kind).toBe('oauth');
    expect(error.error).toBe('invalid_grant');
    expect(error.errorDescription).toBe('The provided authorization grant is invalid');
    expect(error.isInvalidGrant).toBe(true);
    const other = fromStatus(401, { error: 'invalid_client' }, {}, 'oauth');
    expect(other.kind).toBe('oauth');
    expect(other.isInvalidGrant).toBe(false);
  });

  it('keeps 429 and 5xx transient on OAuth endpoints too', () => {
    expect(fromStatus(429, {}, { 'retry-after': '3' }, 'oauth').kind).toBe('rate_limited');
    expect(fromStatus(503, {}, {}, 'oauth').kind).toBe('server');
  });
});

describe('retryAfterMsFrom', () => {
  it('reads Retry-After in seconds', () => {
    expect(retryAfterMsFrom({ 'retry-after': '7' }, NOW)).toBe(7000);
  });

  it('reads Retry-After as an HTTP date', () => {
    const at = new Date(NOW + 12_000).toUTCString();
    expect(retryAfterMsFrom({ 'retry-after': at }, NOW)).toBe(12_000);
  });

  it('never returns a negative wait for a past date', () => {
    expect(retryAfterMsFrom({ 'retry-after': new Date(NOW - 5000).toUTCString() }, NOW)).toBe(0);
  });

  it('falls back to X-RateLimit-Reset seconds', () => {
    expect(retryAfterMsFrom({ 'x-ratelimit-reset': '42' }, NOW)).toBe(42_000);
  });

  it('reads an epoch X-RateLimit-Reset as a point in time', () => {
    expect(retryAfterMsFrom({ 'x-ratelimit-reset': String(NOW / 1000 + 30) }, NOW)).toBe(30_000);
  });

  it('prefers Retry-After over X-RateLimit-Reset', () => {
    expect(retryAfterMsFrom({ 'retry-after': '2', 'x-ratelimit-reset': '50' }, NOW)).toBe(2000);
  });

  it('uses a whole window when no header is usable', () => {
    expect(retryAfterMsFrom({ 'retry-after': 'soon' }, NOW)).toBe(DEFAULT_RATE_LIMIT_WAIT_MS);
    expect(retryAfterMsFrom({}, NOW)).toBe(DEFAULT_RATE_LIMIT_WAIT_MS);
  });

  it('is attached to rate_limited errors', () => {
    expect(fromStatus(429, {}, { 'x-ratelimit-reset': '9' }).retryAfterMs).toBe(9000);
  });
});

function codeError(code: string, syscall?: string): Error {
  return Object.assign(new Error(`${code} happened`), { code, syscall });
}

describe('errorFromTransport', () => {
  it.each([
    ['ECONNREFUSED', 'connect'],
    ['ENOTFOUND', 'getaddrinfo'],
    ['EAI_AGAIN', 'getaddrinfo'],
    ['UND_ERR_CONNECT_TIMEOUT', undefined],
    ['ERR_TLS_CERT_ALTNAME_INVALID', undefined],
  ])('%s means nothing was sent', (code, syscall) => {
    const error = errorFromTransport('POST', '/oauth/token', codeError(code, syscall));
    expect(error.kind).toBe('network');
    expect(error.phase).toBe('before_send');
    expect(error.status).toBeUndefined();
  });

  it('sees through an AggregateError of connect failures', () => {
    const aggregate = new AggregateError([
      codeError('ECONNREFUSED', 'connect'),
      codeError('ECONNREFUSED', 'connect'),
    ]);
    expect(errorFromTransport('GET', '/x', aggregate).phase).toBe('before_send');
  });

  it.each([
    'UND_ERR_HEADERS_TIMEOUT',
    'UND_ERR_BODY_TIMEOUT',
    'UND_ERR_SOCKET',
    'ECONNRESET',
    'EPIPE',
  ])('%s leaves the outcome unknown', (code) => {
    expect(errorFromTransport('POST', '/oauth/token', codeError(code)).phase).toBe('unknown');
  });
});

describe('isRetryable and hasKind', () => {
  it('treats rate limits, 5xx and network failures as transient', () => {
    expect(isRetryable(fromStatus(429))).toBe(true);
    expect(isRetryable(fromStatus(500))).toBe(true);
    expect(isRetryable(errorFromTransport('GET', '/x', codeError('ECONNRESET')))).toBe(true);
    for (const status of [400, 401, 403, 404, 409])
      expect(isRetryable(fromStatus(status))).toBe(false);
    expect(isRetryable(fromStatus(400, { error: 'invalid_grant' }, {}, 'oauth'))).toBe(false);
    expect(isRetryable(new Error('boom'))).toBe(false);
  });

  it('narrows by kind', () => {
    const error: unknown = fromStatus(409);
    expect(hasKind(error, 'conflict')).toBe(true);
    expect(hasKind(error, 'not_found')).toBe(false);
    expect(hasKind(new Error('x'), 'conflict')).toBe(false);
  });
});
