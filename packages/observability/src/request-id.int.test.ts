// Proves a client's x-request-id becomes the logged request id only when it is 1-128 characters
// of [A-Za-z0-9._:-]; newlines, quotes, spaces, 10 KB and the like get a fresh UUID instead.
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { captureLogs } from '@calhook/testing';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { logRequests, serverOptions } from './request-log.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const logs = captureLogs();
let app: FastifyInstance;
let port: number;

beforeAll(async () => {
  const loggerInstance: FastifyBaseLogger = createLogger({
    level: 'info',
    destination: logs.destination,
  });
  app = Fastify({ ...serverOptions, loggerInstance });
  logRequests(app);
  app.get('/ping', async (req) => {
    req.log.info('handled');
    return { ok: true };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await app.close();
});

/** One request over a real socket; header values go out as latin1 bytes, unchecked by us. */
function get(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/ping', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The request ids on the handler's line and the request line written since line `from`. */
function loggedIds(from: number): string[] {
  return logs
    .lines()
    .slice(from)
    .filter((line) => line.msg === 'handled' || line.msg === 'request')
    .map((line) => String(line.reqId));
}

describe('x-request-id', () => {
  it('keeps a well-formed id from the client', async () => {
    for (const id of ['abc-123', 'trace.id:span_9-Z', 'x'.repeat(128)]) {
      const from = logs.lines().length;
      expect(await get({ 'x-request-id': id })).toBe(200);
      expect(loggedIds(from)).toEqual([id, id]);
    }
  });

  const refused: [string, string][] = [
    ['a double quote', 'abc"def'],
    ['a JSON fragment', '","level":60,"msg":"forged'],
    ['a single quote', "it's"],
    ['a space', 'abc def'],
    ['a tab', 'abc\tdef'],
    ['a comma (two headers joined)', 'abc,def'],
    ['non-ASCII', 'caf\u00e9'],
    ['a slash and angle brackets', '<script>/x'],
    ['129 characters', 'x'.repeat(129)],
    ['10 KB', 'a'.repeat(10 * 1024)],
  ];
  it.each(refused)('replaces a value with %s by a fresh UUID', async (_what, id) => {
    const from = logs.lines().length;
    expect(await get({ 'x-request-id': id })).toBe(200);
    const ids = loggedIds(from);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toMatch(UUID);
    expect(ids[1]).toBe(ids[0]);
    expect(JSON.stringify(logs.lines().slice(from))).not.toContain(JSON.stringify(id).slice(1, -1));
  });

  it('replaces values with line breaks, which only an in-process request can carry', async () => {
    for (const id of ['abc\n{"level":60,"msg":"forged"}', 'abc\r\ndef', 'abc\rdef']) {
      const from = logs.lines().length;
      const response = await app.inject({ url: '/ping', headers: { 'x-request-id': id } });
      expect(response.statusCode).toBe(200);
      const ids = loggedIds(from);
      expect(ids).toHaveLength(2);
      expect(ids[0]).toMatch(UUID);
      expect(
        logs
          .lines()
          .slice(from)
          .some((line) => line.msg === 'forged'),
      ).toBe(false);
    }
  });

  it('generates an id when the header is absent or empty', async () => {
    for (const headers of [{}, { 'x-request-id': '' }] as Record<string, string>[]) {
      const from = logs.lines().length;
      expect(await get(headers)).toBe(200);
      const ids = loggedIds(from);
      expect(ids[0]).toMatch(UUID);
    }
  });
});
