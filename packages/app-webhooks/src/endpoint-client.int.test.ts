// Proves the delivery client's guard and limits on real sockets: a host resolving to loopback
// (or a loopback literal) is refused at connection time unless private addresses are allowed;
// a redirect is an answer, never followed; an endpoint slower than the timeout is a timeout.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEndpointClient } from './endpoint-client.ts';

let server: Server;
let base: string;
const paths: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    paths.push(request.url ?? '');
    request.resume();
    if (request.url === '/redirect') {
      response.writeHead(302, { location: `${base}/elsewhere` }).end();
    } else if (request.url === '/slow') {
      setTimeout(() => response.writeHead(200).end(), 2_000).unref();
    } else {
      response.writeHead(204).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('the endpoint client', () => {
  it('refuses loopback at connection time unless private addresses are allowed', async () => {
    const strict = createEndpointClient({ allowPrivate: false });
    const port = (server.address() as AddressInfo).port;
    try {
      for (const url of [`http://localhost:${port}/x`, `${base}/x`, `http://[::1]:${port}/x`]) {
        const result = await strict.post(url, {}, '{}');
        expect(result, url).toMatchObject({ outcome: 'refused', status: null });
      }
      expect(paths).toEqual([]);
    } finally {
      await strict.close();
    }
    const loose = createEndpointClient({ allowPrivate: true });
    try {
      expect(await loose.post(`http://localhost:${port}/x`, {}, '{}')).toMatchObject({
        outcome: 'success',
        status: 204,
      });
    } finally {
      await loose.close();
    }
  });

  it('does not follow redirects, and gives up after its timeout', async () => {
    const client = createEndpointClient({ allowPrivate: true, timeoutMs: 300 });
    try {
      paths.length = 0;
      expect(await client.post(`${base}/redirect`, {}, '{}')).toMatchObject({
        outcome: 'http_error',
        status: 302,
      });
      expect(paths).toEqual(['/redirect']);
      expect(await client.post(`${base}/slow`, {}, '{}')).toMatchObject({
        outcome: 'timeout',
        status: null,
      });
      const refused = createEndpointClient({ allowPrivate: true });
      server.closeAllConnections();
      const closed = await refused.post('http://127.0.0.1:9/x', {}, '{}');
      expect(closed).toMatchObject({ outcome: 'network_error', status: null });
      await refused.close();
    } finally {
      await client.close();
    }
  });
});
