// Proves the log redaction: secret-named fields at any depth, credentials inside strings and
// errors (with their causes) are masked, while error codes and ordinary fields survive.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { REDACTED, redactText, redactValue } from './redact.ts';

describe('redactValue', () => {
  it('masks secret-named fields at any depth and keeps the rest', () => {
    expect(
      redactValue({
        a: { b: { c: { accessToken: 'x1', refresh_token: 'x2', 'Client-Secret': 'x3' } } },
        list: [{ signingKey: 'x4' }, { name: 'kept' }],
        apiToken: 'x5',
        status: 200,
      }),
    ).toEqual({
      a: {
        b: { c: { accessToken: REDACTED, refresh_token: REDACTED, 'Client-Secret': REDACTED } },
      },
      list: [{ signingKey: REDACTED }, { name: 'kept' }],
      apiToken: REDACTED,
      status: 200,
    });
  });

  it('keeps error codes but masks an OAuth code', () => {
    expect(
      redactValue({
        pg: { code: '23503' },
        node: { code: 'ECONNREFUSED' },
        zod: { code: 'invalid_type' },
        oauth: { code: 'aB3-xY9_kLmN0pQ' },
      }),
    ).toEqual({
      pg: { code: '23503' },
      node: { code: 'ECONNREFUSED' },
      zod: { code: 'invalid_type' },
      oauth: { code: REDACTED },
    });
  });

  it('masks credentials inside text', () => {
    expect(redactText('sent Authorization: Bearer abc.def-123')).toBe(
      `sent Authorization: Bearer ${REDACTED}`,
    );
    expect(redactText('/cb?state=s&code=Xy12')).toBe(`/cb?state=s&code=${REDACTED}`);
    expect(redactText('refresh_token=r1&grant_type=refresh_token')).toBe(
      `refresh_token=${REDACTED}&grant_type=refresh_token`,
    );
    expect(redactText('{"access_token":"t1","x":1}')).toBe(`{"access_token":"${REDACTED}","x":1}`);
  });

  it('walks a repeated object twice and cuts only real cycles', () => {
    const shared = { token: 't' };
    const cyclic: Record<string, unknown> = { name: 'c' };
    cyclic.self = cyclic;
    expect(redactValue({ one: shared, two: shared, cyclic })).toEqual({
      one: { token: REDACTED },
      two: { token: REDACTED },
      cyclic: { name: 'c', self: '[circular]' },
    });
  });
});

describe('createLogger', () => {
  it('writes errors with their fields, causes and codes, secrets masked', () => {
    let out = '';
    const destination = new Writable({
      write(chunk, _encoding, done) {
        out += chunk;
        done();
      },
    });
    const logger = createLogger({ destination });
    const cause = Object.assign(new Error('inner Bearer s3cret-cause'), {
      clientSecret: 's3cret-cs',
    });
    const error = Object.assign(new Error('outer', { cause }), {
      code: 'ETIMEDOUT',
      signingKey: 's3cret-key',
    });
    logger.error(
      { err: error, req: { headers: { authorization: 'Basic s3cret-basic' } } },
      'failed',
    );
    const line = JSON.parse(out) as { err: Record<string, unknown>; req: unknown; msg: string };
    expect(line.err).toMatchObject({ type: 'Error', code: 'ETIMEDOUT', signingKey: REDACTED });
    expect(line.err.message).toContain('outer');
    expect(line.req).toEqual({ headers: { authorization: REDACTED } });
    expect(out).not.toContain('s3cret');
  });
});
