// Proves GET /v1/users/:userId/meetings answers 400 naming the parameter, never 500 and never an
// error log line, for every malformed or out-of-range from, to, cursor, status and limit, and
// still answers 200 at the edges of the accepted range (years 1 to 9999, UTC).

import { randomBytes } from 'node:crypto';
import { createSealer } from '@calhook/crypto';
import type { DatabaseHandle } from '@calhook/db';
import { encodeMeetingsCursor } from '@calhook/meetings';
import { createLogger } from '@calhook/observability';
import { captureLogs, seedConnectionWithHook, testDatabase } from '@calhook/testing';
import { createHookIds } from '@calhook/webhooks';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApiApp } from '../src/app.ts';

const apiToken = 'meetings-query-token-0123';
const logs = captureLogs();
let database: DatabaseHandle;
let app: FastifyInstance;
let userId: string;

beforeAll(async () => {
  database = testDatabase();
  const key = randomBytes(32);
  const secrets = { sealer: createSealer([key]), hookIds: createHookIds([key]) };
  ({ userId } = await seedConnectionWithHook(database.db, secrets));
  app = buildApiApp({
    logger: createLogger({ level: 'info', destination: logs.destination }),
    db: database.db,
    apiToken,
    checkReady: async () => {},
  });
});

afterAll(async () => {
  await app.close();
  await database.close();
});

type Query = Record<string, string | string[]>;

async function list(query: Query) {
  const response = await app.inject({
    url: `/v1/users/${userId}/meetings`,
    query,
    headers: { authorization: `Bearer ${apiToken}` },
  });
  return { status: response.statusCode, body: response.json() as Record<string, unknown> };
}

const cursorOf = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const someId = '00000000-0000-4000-8000-000000000000';

const refused: [string, Query][] = [
  // Year 0, and a year-1 instant whose offset puts it in year 0 UTC.
  ['from', { from: '0000-01-01T00:00:00Z' }],
  ['from', { from: '0001-01-01T00:00:00+01:00' }],
  ['to', { to: '0000-06-15T12:00:00Z' }],
  // Negative and five- or six-digit years (ISO's expanded form).
  ['from', { from: '-000001-01-01T00:00:00Z' }],
  ['to', { to: '+010000-01-01T00:00:00Z' }],
  ['to', { to: '10000-01-01T00:00:00Z' }],
  ['from', { from: '+275760-09-13T00:00:00Z' }],
  // Past 9999-12-31T23:59:59.999Z once the offset is applied.
  ['to', { to: '9999-12-31T23:00:00-05:00' }],
  // Not ISO 8601 date-times at all.
  ['from', { from: 'yesterday' }],
  ['from', { from: '1735689600' }],
  ['to', { to: '2026-12-03' }],
  ['to', { to: 'Thu, 03 Dec 2026 10:00:00 GMT' }],
  ['from', { from: '2026-02-30T00:00:00Z' }],
  ['from', { from: '' }],
  // `to` earlier than `from`.
  ['to', { from: '2026-12-03T00:00:00Z', to: '2026-12-02T23:59:59Z' }],
  ['status', { status: 'deleted' }],
  ['status', { status: 'ACTIVE' }],
  ['status', { status: '' }],
  ['limit', { limit: '0' }],
  ['limit', { limit: '201' }],
  ['limit', { limit: '99999999999999999999999999' }],
  ['limit', { limit: 'ten' }],
  ['limit', { limit: '1.5' }],
  ['limit', { limit: '-1' }],
  ['limit', { limit: '0x10' }],
  ['limit', { limit: '1e2' }],
  ['limit', { limit: '' }],
  ['cursor', { cursor: 'not-a-cursor!' }],
  ['cursor', { cursor: Buffer.from('not json').toString('base64url') }],
  ['cursor', { cursor: cursorOf({ startTime: '2026-12-03T00:00:00.000Z', id: someId }) }],
  ['cursor', { cursor: cursorOf(['2026-12-03T00:00:00.000Z', 'not-a-uuid']) }],
  ['cursor', { cursor: cursorOf(['2026-12-03T00:00:00.000Z', `${someId}0`]) }],
  ['cursor', { cursor: cursorOf(['+275760-09-13T00:00:00.000Z', someId]) }],
  ['cursor', { cursor: cursorOf(['-271821-04-20T00:00:00.000Z', someId]) }],
  ['cursor', { cursor: cursorOf(['0000-01-01T00:00:00.000Z', someId]) }],
  ['cursor', { cursor: cursorOf(['+010000-01-01T00:00:00.000Z', someId]) }],
  ['cursor', { cursor: cursorOf(['December 3, 2026', someId]) }],
  ['cursor', { cursor: cursorOf([1796256000000, someId]) }],
  ['cursor', { cursor: cursorOf(['2026-12-03T00:00:00.000Z', someId, 'extra']) }],
  ['cursor', { cursor: 'x'.repeat(501) }],
  // A parameter given twice.
  ['status', { status: ['active', 'canceled'] }],
  ['limit', { limit: ['1', '2'] }],
  ['from', { from: ['2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z'] }],
];

const errorLines = () => logs.lines().filter((line) => (line.level as number) >= 50);

describe('GET /v1/users/:userId/meetings query parameters', () => {
  const cases = refused.map(([field, query]) => [field, JSON.stringify(query).slice(0, 90), query]);
  it.each(cases as [string, string, Query][])(
    'answers 400 naming %s for %s',
    async (field, _title, query) => {
      const before = errorLines().length;
      const answer = await list(query);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        error: 'invalid_request',
        field: `querystring.${field}`,
        message: expect.any(String),
      });
      expect((answer.body.message as string).length).toBeGreaterThan(0);
      expect(errorLines().slice(before)).toEqual([]);
    },
  );

  it('answers 200 at the edges of the accepted range', async () => {
    const before = errorLines().length;
    const accepted: Query[] = [
      { from: '0001-01-01T00:00:00Z', to: '9999-12-31T23:59:59.999Z' },
      { from: '0001-01-01T00:00:00-05:00' },
      { to: '9999-12-31T23:59:59Z' },
      // An empty window: `to` is exclusive.
      { from: '2026-12-03T00:00:00Z', to: '2026-12-03T00:00:00Z' },
      { limit: '1' },
      { limit: '200', status: 'canceled' },
      {
        cursor: encodeMeetingsCursor({
          startTime: new Date('9999-12-31T23:59:59.999Z'),
          id: someId,
        }),
      },
      { cursor: encodeMeetingsCursor({ startTime: new Date('0001-01-01T00:00:00Z'), id: someId }) },
    ];
    for (const query of accepted) {
      const answer = await list(query);
      expect(answer.status, JSON.stringify(query)).toBe(200);
      expect(answer.body).toEqual({ meetings: [], nextCursor: null });
    }
    expect(errorLines().slice(before)).toEqual([]);
  });
});
