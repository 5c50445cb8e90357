// Proves basic auth accepts only the exact user and password pair and challenges otherwise.
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { basicAuth } from './basic-auth.ts';

const header = (pair: string) => `Basic ${Buffer.from(pair).toString('base64')}`;

describe('basicAuth', () => {
  it('lets the right pair through and answers 401 with a challenge to anything else', async () => {
    const app = Fastify();
    app.addHook('onRequest', basicAuth({ user: 'ops', password: 'p:ss word' }));
    app.get('/', async () => 'in');
    const status = async (authorization?: string) =>
      (await app.inject({ url: '/', headers: authorization ? { authorization } : {} })).statusCode;
    expect(await status(header('ops:p:ss word'))).toBe(200);
    for (const wrong of [
      undefined,
      header('ops:p:ss wor'),
      header('op:p:ss word'),
      header('ops'),
      header(':'),
      'Bearer ops:p:ss word',
      'Basic !!!',
    ]) {
      expect(await status(wrong), String(wrong)).toBe(401);
    }
    const challenge = await app.inject({ url: '/' });
    expect(challenge.headers['www-authenticate']).toBe('Basic realm="calhook"');
    await app.close();
  });
});
