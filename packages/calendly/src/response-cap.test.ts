// Proves the client stops reading a response body past MAX_RESPONSE_BYTES over a real socket: an
// endless or 5 MiB success becomes an invalid_response error with the connection cut (the server
// sees it close long before it is done), an oversized 503 stays a retryable server error, and a
// body just under the cap is still read.
import { once } from 'node:events';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createCalendlyClient } from './client.ts';
import { CalendlyError } from './errors.ts';
import { MAX_RESPONSE_BYTES } from './transport.ts';

const MiB = 1024 * 1024;
// "Endless" for the client, bounded for the test: the server stops by itself after this much.
const ENDLESS_LIMIT = 256 * MiB;

interface Sent {
  /** Bytes the server handed to the socket for one response. */
  bytes: number;
  /** Whether the whole body went out before the connection closed. */
  finished: boolean;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Resolves when the socket can take more, or is gone; leaves no listener behind. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** Writes `total` bytes of `chunk` (repeated) as the body, honouring back-pressure. */
async function stream(res: ServerResponse, chunk: Buffer, total: number, sent: Sent) {
  while (sent.bytes < total && !res.destroyed) {
    const piece = chunk.subarray(0, Math.min(chunk.length, total - sent.bytes));
    sent.bytes += piece.length;
    if (!res.write(piece)) await drainedOrClosed(res);
  }
  if (!res.destroyed) {
    res.end();
    sent.finished = true;
  }
}

async function serve(
  answer: (res: ServerResponse, sent: Sent) => Promise<void>,
): Promise<{ url: string; responses: Sent[]; closed: Promise<void>[] }> {
  const responses: Sent[] = [];
  const closed: Promise<void>[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    const sent: Sent = { bytes: 0, finished: false };
    responses.push(sent);
    closed.push(once(res, 'close').then(() => undefined));
    void answer(res, sent);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, responses, closed };
}

function client(url: string) {
  const c = createCalendlyClient({
    apiUrl: url,
    authUrl: url,
    clientId: 'cid',
    clientSecret: 'client-secret-value',
    sleep: async () => {},
    random: () => 0.5,
  });
  cleanups.push(() => c.close());
  return c;
}

const user = {
  uri: 'https://api.calendly.com/users/U1',
  name: 'Ada',
  email: 'ada@example.com',
  current_organization: 'https://api.calendly.com/organizations/O1',
};

/** A valid `/users/me` answer padded to `size` bytes with an extra field. */
function paddedUser(size: number): Buffer {
  const head = JSON.stringify({ resource: { ...user, padding: '' } });
  const pad = 'p'.repeat(size - Buffer.byteLength(head));
  return Buffer.from(JSON.stringify({ resource: { ...user, padding: pad } }));
}

describe('response body cap', () => {
  it('cuts an endless 200 short and fails with invalid_response', async () => {
    const { url, responses, closed } = await serve(async (res, sent) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await stream(res, Buffer.alloc(64 * 1024, 0x20), ENDLESS_LIMIT, sent);
    });
    const error = await client(url)
      .getCurrentUser('access-token')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalendlyError);
    expect(error).toMatchObject({ kind: 'invalid_response', status: 200 });
    expect((error as Error).message).toContain(`over ${MAX_RESPONSE_BYTES} bytes`);
    await closed[0];
    // Not retried, and the socket was closed with the body far from done: what the server got
    // out is the cap plus what the kernel buffers held.
    expect(responses).toHaveLength(1);
    expect(responses[0]?.finished).toBe(false);
    expect(responses[0]?.bytes).toBeLessThan(MAX_RESPONSE_BYTES + 32 * MiB);
  });

  it('refuses a 5 MiB well-formed 200 without reading it, by its declared length', async () => {
    const body = paddedUser(5 * MiB);
    const { url, responses, closed } = await serve(async (res, sent) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
      await stream(res, body, body.length, sent);
    });
    const error = await client(url)
      .getCurrentUser('access-token')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'invalid_response', status: 200 });
    await closed[0];
    expect(responses).toHaveLength(1);
  });

  it('refuses a 5 MiB well-formed 200 sent without a length, once the cap is passed', async () => {
    const body = paddedUser(5 * MiB);
    const { url, responses } = await serve(async (res, sent) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await stream(res, body, body.length, sent);
    });
    const error = await client(url)
      .getCurrentUser('access-token')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'invalid_response', status: 200 });
    expect(responses).toHaveLength(1);
  });

  it('keeps an endless 503 a server error, retried as any 503 is', async () => {
    const { url, responses, closed } = await serve(async (res, sent) => {
      res.writeHead(503, { 'content-type': 'text/html' });
      await stream(res, Buffer.alloc(64 * 1024, 0x61), ENDLESS_LIMIT, sent);
    });
    const error = await client(url)
      .getCurrentUser('access-token')
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'server', status: 503 });
    await Promise.all(closed);
    expect(responses).toHaveLength(4);
    expect(responses.every((sent) => !sent.finished)).toBe(true);
  });

  it('still reads a body just under the cap', async () => {
    const body = paddedUser(MAX_RESPONSE_BYTES - 1024);
    const { url } = await serve(async (res, sent) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      await stream(res, body, body.length, sent);
    });
    const me = await client(url).getCurrentUser('access-token');
    expect(me.uri).toBe(user.uri);
    expect(Buffer.byteLength(JSON.stringify({ resource: me }))).toBe(body.length);
  });
});
