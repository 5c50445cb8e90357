// Proves the log redaction: secret-named fields at any depth, credentials inside strings and
// errors (with their causes) are masked, while error codes and ordinary fields survive.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { REDACTED, redactText, redactValue } from './redact.ts';

/** A log destination that keeps what is written. */
function capture() {
  let out = '';
  const destination = new Writable({
    write(chunk, _encoding, done) {
      out += chunk;
      done();
    },
  });
  return { destination, text: () => out };
}

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
    expect(redactText('/settings?calendly=pending&completion=Qz-9_a')).toBe(
      `/settings?calendly=pending&completion=${REDACTED}`,
    );
    expect(redactValue({ userId: 'u1', completion: 'Qz-9_a' })).toEqual({
      userId: 'u1',
      completion: REDACTED,
    });
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
    const { destination, text } = capture();
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
    const line = JSON.parse(text()) as { err: Record<string, unknown>; req: unknown; msg: string };
    expect(line.err).toMatchObject({ type: 'Error', code: 'ETIMEDOUT', signingKey: REDACTED });
    expect(line.err.message).toContain('outer');
    expect(line.req).toEqual({ headers: { authorization: REDACTED } });
    expect(text()).not.toContain('s3cret');
  });

  it('masks child bindings at any depth, and every field pino path redaction used to name', () => {
    const { destination, text } = capture();
    const logger = createLogger({ destination, level: 'trace' });
    const child = logger
      .child({
        token: 's3cret-1',
        options: { clientSecret: 's3cret-2', deep: { cookie: 's3cret-3' } },
      })
      .child({ signingKey: 's3cret-4', hookId: 'kept-hook' });
    child.setBindings({ apiToken: 's3cret-5' });
    child.info(
      {
        req: {
          headers: { authorization: 'Basic s3cret-6', 'calendly-webhook-signature': 's3cret-7' },
        },
        headers: { authorization: 'Bearer s3cret-8' },
        connection: {
          access_token: 's3cret-9',
          refreshToken: 's3cret-10',
          code_verifier: 's3cret-11',
        },
        config: {
          encryptionKeys: ['s3cret-12'],
          password: 's3cret-13',
          client_secret: 's3cret-14',
        },
        accessToken: 's3cret-15',
        status: 401,
      },
      'line',
    );
    const line = JSON.parse(text()) as Record<string, unknown>;
    expect(text()).not.toContain('s3cret');
    expect(line).toMatchObject({
      token: REDACTED,
      options: { clientSecret: REDACTED, deep: { cookie: REDACTED } },
      signingKey: REDACTED,
      apiToken: REDACTED,
      hookId: 'kept-hook',
      status: 401,
      msg: 'line',
    });
  });
});

// Shaped as drizzle-orm 0.45's DrizzleQueryError (drizzle-orm/errors.js); the real one is
// logged against Postgres in apps/all/test/query-error-logs.int.test.ts.
class DrizzleQueryError extends Error {
  query: string;
  params: unknown[];
  constructor(query: string, params: unknown[], cause?: Error) {
    super(`Failed query: ${query}\nparams: ${params}`);
    this.query = query;
    this.params = params;
    this.cause = cause;
  }
}

describe('logged query errors', () => {
  const body = JSON.stringify({ payload: { email: 'ada@example.com', name: 'Ada Lovelace' } });

  it('withhold bound parameters on the error and its cause, and cut long SQL', () => {
    // postgres.js in debug mode puts the statement's values on its own error.
    const cause = Object.assign(new Error('value too long for type character varying(64)'), {
      code: '22001',
      parameters: ['ada@example.com'],
      args: [body],
    });
    const query = `insert into "event_inbox" (${'"column", '.repeat(100)}"payload") values ($1, $2)`;
    const error = new DrizzleQueryError(query, ['hook-1', body], cause);
    const logged = redactValue({ err: error }) as { err: Record<string, unknown> };
    const text = JSON.stringify(logged);
    expect(text).not.toContain('ada@example.com');
    expect(text).not.toContain('Ada Lovelace');
    expect(logged.err).toMatchObject({
      type: 'DrizzleQueryError',
      params: '[2 values withheld]',
      query: expect.stringMatching(/^insert into "event_inbox" .*… \[\d+ more chars\]$/),
    });
    expect((logged.err.query as string).length).toBeLessThan(600);
    // The database's own reason and code survive, in the message as before.
    expect(logged.err.message).toMatch(
      /^Failed query: insert into "event_inbox" .*\nparams: \[2 values withheld\]: value too long/s,
    );
    expect(logged.err.stack).toContain('params: [2 values withheld]');
    expect(logged.err.stack).toContain('caused by: Error: value too long');
  });

  it('keep a short query whole and other errors as they were', () => {
    const error = new DrizzleQueryError('select 1 where $1', ['ada@example.com']);
    const logged = redactValue(error) as Record<string, unknown>;
    expect(logged.query).toBe('select 1 where $1');
    expect(logged.message).toBe('Failed query: select 1 where $1\nparams: [1 values withheld]');
    const plain = Object.assign(new Error('boom', { cause: new Error('root') }), { status: 502 });
    expect(redactValue(plain)).toMatchObject({
      type: 'Error',
      message: 'boom: root',
      status: 502,
      stack: expect.stringContaining('caused by: Error: root'),
    });
  });

  it('never reach a log line, whichever way the error is logged', () => {
    const { destination, text } = capture();
    const logger = createLogger({ destination, level: 'trace' });
    const error = new DrizzleQueryError('insert into t values ($1)', [body]);
    logger.warn({ err: error }, 'job failed, will retry');
    logger.child({ err: error }).error('bound');
    logger.error(error);
    expect(text().trim().split('\n')).toHaveLength(3);
    expect(text()).not.toContain('ada@example.com');
    expect(text()).toContain('[1 values withheld]');
    // The message pino takes from a bare error, and the same text quoted in any field.
    expect(text()).toContain(
      '"msg":"Failed query: insert into t values ($1)\\nparams: [withheld]"',
    );
    expect(redactText(`retrying: ${error.message}`)).toBe(
      'retrying: Failed query: insert into t values ($1)\nparams: [withheld]',
    );
  });
});
