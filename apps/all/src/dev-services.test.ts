// Proves the development start looks before it leaps: services that answer are used as
// configured, with nothing started; a server configured on another machine that does not
// answer is reported as such (a local container cannot stand in for it); loopback is told
// apart from everything else.
import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { DevServicesError, ensureDevServices, isLoopback } from './dev-services.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function listening(): Promise<number> {
  const server = createServer((socket) => socket.destroy());
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

describe('ensureDevServices', () => {
  it('uses the configured Postgres and Redis when they answer', async () => {
    const urls = {
      databaseUrl: `postgres://postgres@127.0.0.1:${await listening()}/calhook`,
      redisUrl: `redis://127.0.0.1:${await listening()}`,
    };
    const services = await ensureDevServices(urls);
    expect(services).toMatchObject({ ...urls, started: [] });
  });

  it('names a server elsewhere that does not answer, and offers no container for it', async () => {
    const attempt = ensureDevServices(
      {
        databaseUrl: 'postgres://app:secret-password@db.example.invalid:5432/calhook',
        redisUrl: `redis://127.0.0.1:${await listening()}`,
      },
      { probeTimeoutMs: 500 },
    );
    await expect(attempt).rejects.toThrow(DevServicesError);
    await expect(attempt).rejects.toThrow(
      'calhook: Postgres at db.example.invalid:5432 (DATABASE_URL) does not answer. ' +
        'Start it, or set DATABASE_URL to one that runs.',
    );
    await expect(attempt).rejects.not.toThrow(/secret-password|Docker/);
  });

  it('tells loopback addresses from others', () => {
    for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1']) {
      expect(isLoopback(host)).toBe(true);
    }
    for (const host of ['10.0.0.5', 'db', 'db.example.com', '::ffff:10.0.0.1', '128.0.0.1']) {
      expect(isLoopback(host)).toBe(false);
    }
  });
});
