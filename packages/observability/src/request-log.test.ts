// Proves the request log: a route's successes can go to debug and are then counted in one info
// line per interval, while every refusal and failure keeps its own line with its reason.
import { Writable } from 'node:stream';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.ts';
import { logRequests, serverOptions } from './request-log.ts';

function appWith(level: string, summaryIntervalMs = 60_000) {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  const loggerInstance: FastifyBaseLogger = createLogger({ level, destination });
  const app = Fastify({ ...serverOptions, loggerInstance });
  logRequests(app, { summaryIntervalMs });
  app.post<{ Params: { hookId: string } }>(
    '/hooks/:hookId',
    { config: { successLogLevel: 'debug' } },
    async (request, reply) => {
      if (request.params.hookId === 'refused') {
        request.logReason = 'no_matching_key';
        return reply.code(401).send({ error: 'invalid_signature' });
      }
      if (request.params.hookId === 'broken') return reply.code(503).send({ error: 'down' });
      return { status: 'accepted' };
    },
  );
  app.get('/other', async () => ({ ok: true }));
  const requests = () => lines.filter((line) => line.msg === 'request');
  const summaries = () => lines.filter((line) => line.msg === 'requests answered');
  return { app, lines, requests, summaries };
}

describe('logRequests', () => {
  it('leaves quiet successes out at info, and logs refusals and failures with their reason', async () => {
    const { app, requests } = appWith('info');
    for (let i = 0; i < 3; i += 1) await app.inject({ method: 'POST', url: '/hooks/h1' });
    await app.inject({ method: 'POST', url: '/hooks/refused' });
    await app.inject({ method: 'POST', url: '/hooks/broken' });
    await app.inject({ method: 'GET', url: '/other' });
    expect(requests()).toEqual([
      expect.objectContaining({
        level: 30,
        url: '/hooks/:hookId',
        hookId: 'refused',
        status: 401,
        reason: 'no_matching_key',
        reqId: expect.any(String),
      }),
      expect.objectContaining({ level: 50, hookId: 'broken', status: 503 }),
      expect.objectContaining({ level: 30, url: '/other', status: 200 }),
    ]);
    expect(requests()[2]).not.toHaveProperty('reason');
    await app.close();
  });

  it('counts the successes it left out in one info line per interval and on close', async () => {
    const { app, summaries } = appWith('info', 50);
    for (let i = 0; i < 4; i += 1) await app.inject({ method: 'POST', url: '/hooks/h1' });
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(summaries()).toEqual([
      expect.objectContaining({ level: 30, route: '/hooks/:hookId', answered: 4 }),
    ]);
    await app.inject({ method: 'POST', url: '/hooks/h2' });
    await app.close();
    expect(summaries().map((line) => line.answered)).toEqual([4, 1]);
  });

  it('writes every success at debug when the level allows, and then counts none', async () => {
    const { app, requests, summaries } = appWith('debug');
    await app.inject({ method: 'POST', url: '/hooks/h1' });
    await app.close();
    expect(requests()).toEqual([
      expect.objectContaining({ level: 20, hookId: 'h1', status: 200, ms: expect.any(Number) }),
    ]);
    expect(summaries()).toEqual([]);
  });
});
