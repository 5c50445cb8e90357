// Proves the client's transport rules over real sockets: where requests go, what is retried,
// how network failures are phased, and that logs carry failures without secrets.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type CalendlyClient, type CalendlyClientOptions, createCalendlyClient } from './client.ts';
import { CalendlyError } from './errors.ts';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: Seen, res: ServerResponse) => void;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: Handler): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const entry = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: Buffer.concat(chunks).toString(),
    };
    seen.push(entry);
    handler(entry, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  cleanups.push(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen };
}

function json(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

interface Harness {
  client: CalendlyClient;
  sleeps: number[];
  logs: Array<{ obj: Record<string, unknown>; msg: string | undefined }>;
}

function harness(url: string, extra: Partial<CalendlyClientOptions> = {}): Harness {
  const sleeps: number[] = [];
  const logs: Harness['logs'] = [];
  const client = createCalendlyClient({
    apiUrl: url,
    authUrl: url,
    clientId: 'cid',
    clientSecret: 'client-secret-value',
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    random: () => 0.5,
    logger: { warn: (obj, msg) => logs.push({ obj, msg }) },
    ...extra,
  });
  cleanups.push(() => client.close());
  return { client, sleeps, logs };
}

const subscription = {
  uri: 'https://api.calendly.com/webhook_subscriptions/SUB1',
  callback_url: 'https://hooks.example/webhooks/calendly/h1',
  created_at: '2025-01-01T00:00:00.123456Z',
  updated_at: '2025-01-01T00:00:00.123456Z',
  retry_started_at: null,
  state: 'active',
  events: ['invitee.created'],
  scope: 'user',
  organization: 'https://api.calendly.com/organizations/ORG1',
  user: 'https://api.calendly.com/users/USER1',
  group: null,
  creator: 'https://api.calendly.com/users/USER1',
};

describe('where requests go', () => {
  it('sends a URI on another host to the configured API base with the bearer token', async () => {
    const api = await serve((_req, res) => json(res, 200, { resource: subscription }));
    const { client } = harness(api.url);
    const result = await client.getWebhookSubscription(
      'tok-1',
      'https://evil.example/webhook_subscriptions/SUB1?x=1',
    );
    expect(result.uri).toBe(subscription.uri);
    expect(api.seen).toHaveLength(1);
    expect(api.seen[0]?.url).toBe('/webhook_subscriptions/SUB1?x=1');
    expect(api.seen[0]?.headers.authorization).toBe('Bearer tok-1');
    expect(api.seen[0]?.headers.host).toBe(new URL(api.url).host);
  });

  it('keeps a protocol-relative looking path on the configured host', async () => {
    const api = await serve((_req, res) => json(res, 200, { resource: subscription }));
    const { client } = harness(api.url);
    await client.getWebhookSubscription('tok-1', 'https://api.calendly.com//evil.example/x');
    expect(api.seen[0]?.url).toBe('//evil.example/x');
  });
});

describe('retries', () => {
  it('retries a GET on 5xx with jittered back-off, then succeeds', async () => {
    let calls = 0;
    const api = await serve((_req, res) => {
      calls += 1;
      if (calls <= 2) json(res, 503, { title: 'Unavailable', message: 'try later' });
      else json(res, 200, { resource: subscription });
    });
    const { client, sleeps, logs } = harness(api.url);
    await client.getWebhookSubscription('tok', subscription.uri);
    expect(calls).toBe(3);
    expect(sleeps).toEqual([150, 300]);
    expect(logs).toHaveLength(2);
    expect(logs[0]?.obj).toMatchObject({ method: 'GET', status: 503, attempt: 1, retryInMs: 150 });
  });

  it('gives up after maxRetries and surfaces a server error', async () => {
    const api = await serve((_req, res) => json(res, 500, { title: 'Internal' }));
    const { client, sleeps } = harness(api.url, { maxRetries: 2 });
    await expect(client.getCurrentUser('tok')).rejects.toMatchObject({
      kind: 'server',
      status: 500,
    });
    expect(api.seen).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('honours X-RateLimit-Reset on a GET and surfaces waits beyond the cap', async () => {
    let calls = 0;
    const api = await serve((_req, res) => {
      calls += 1;
      if (calls === 1) json(res, 429, { title: 'Too Many Requests' }, { 'x-ratelimit-reset': '5' });
      else if (calls === 2) json(res, 200, { resource: subscription });
      else json(res, 429, { title: 'Too Many Requests' }, { 'retry-after': '120' });
    });
    const { client, sleeps } = harness(api.url);
    await client.getWebhookSubscription('tok', subscription.uri);
    expect(sleeps).toEqual([5000]);
    const error = await client
      .getWebhookSubscription('tok', subscription.uri)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'rate_limited', retryAfterMs: 120_000 });
    expect(sleeps).toEqual([5000]);
  });

  it('never retries a POST, even on 503', async () => {
    const api = await serve((_req, res) => json(res, 503, { title: 'Unavailable' }));
    const { client, sleeps } = harness(api.url);
    await expect(
      client.createWebhookSubscription('tok', {
        url: 'https://hooks.example/h',
        events: ['invitee.created'],
        organization: 'o',
        user: 'u',
        scope: 'user',
        signingKey: 'signing-key-value',
      }),
    ).rejects.toMatchObject({ kind: 'server' });
    expect(api.seen).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('treats a DELETE answered 404 as done and retries a DELETE on 5xx', async () => {
    let calls = 0;
    const api = await serve((_req, res) => {
      calls += 1;
      if (calls === 1) json(res, 502, {});
      else if (calls === 2) {
        res.writeHead(204);
        res.end();
      } else json(res, 404, { title: 'Resource Not Found', message: 'gone' });
    });
    const { client } = harness(api.url);
    await client.deleteWebhookSubscription('tok', subscription.uri);
    await client.deleteWebhookSubscription('tok', subscription.uri);
    expect(api.seen.map((r) => r.method)).toEqual(['DELETE', 'DELETE', 'DELETE']);
  });
});

describe('network failures', () => {
  it('reports a refused token request as before_send and does not retry it', async () => {
    const closed = await serve(() => {});
    await cleanups.pop()?.();
    const { client, sleeps } = harness(closed.url);
    const error = await client.refreshToken('rt-secret').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalendlyError);
    expect(error).toMatchObject({
      kind: 'network',
      phase: 'before_send',
      method: 'POST',
      path: '/oauth/token',
    });
    expect(sleeps).toEqual([]);
  });

  it('reports a token request that timed out after sending as unknown, sent once', async () => {
    const api = await serve(() => {
      // Never answers: the request was received, its outcome is unknowable to the client.
    });
    const { client, sleeps, logs } = harness(api.url, { headersTimeoutMs: 150 });
    const error = await client.refreshToken('rt-secret').catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'network', phase: 'unknown' });
    expect(api.seen).toHaveLength(1);
    expect(sleeps).toEqual([]);
    expect(JSON.stringify(logs)).not.toContain('rt-secret');
    expect((error as Error).message).not.toContain('rt-secret');
  });

  it('retries a GET that timed out', async () => {
    let calls = 0;
    const api = await serve((_req, res) => {
      calls += 1;
      if (calls > 1) json(res, 200, { resource: subscription });
    });
    const { client } = harness(api.url, { headersTimeoutMs: 150 });
    await client.getWebhookSubscription('tok', subscription.uri);
    expect(calls).toBe(2);
  });
});

describe('OAuth requests', () => {
  it('sends a form with Basic client auth and converts the token answer', async () => {
    const receivedAt = Date.parse('2025-03-01T10:00:00Z');
    const api = await serve((_req, res) =>
      json(res, 200, {
        token_type: 'Bearer',
        access_token: 'at-new',
        refresh_token: 'rt-new',
        scope: 'default',
        // Calendly's clock runs 60 s ahead of ours: expiry must follow the earlier one.
        created_at: receivedAt / 1000 + 60,
        expires_in: 7200,
        owner: 'https://api.calendly.com/users/U1',
        organization: 'https://api.calendly.com/organizations/O1',
      }),
    );
    const { client } = harness(api.url, { now: () => receivedAt });
    const tokens = await client.exchangeCode({
      code: 'the-code',
      redirectUri: 'https://app/cb',
      codeVerifier: 'v'.repeat(43),
    });
    const request = api.seen[0]!;
    expect(request.url).toBe('/oauth/token');
    expect(request.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(request.headers.authorization).toBe(
      `Basic ${Buffer.from('cid:client-secret-value').toString('base64')}`,
    );
    expect(Object.fromEntries(new URLSearchParams(request.body))).toEqual({
      grant_type: 'authorization_code',
      code: 'the-code',
      redirect_uri: 'https://app/cb',
      code_verifier: 'v'.repeat(43),
    });
    expect(tokens).toEqual({
      accessToken: 'at-new',
      refreshToken: 'rt-new',
      scope: 'default',
      ownerUri: 'https://api.calendly.com/users/U1',
      organizationUri: 'https://api.calendly.com/organizations/O1',
      createdAt: new Date(receivedAt + 60_000),
      expiresAt: new Date(receivedAt + 7_200_000),
    });
  });

  it('builds the authorize URL with PKCE parameters', () => {
    const { client } = harness('http://auth.local/base/');
    const url = new URL(
      client.authorizeUrl({ redirectUri: 'https://app/cb', state: 's1', codeChallenge: 'ch' }),
    );
    expect(url.origin + url.pathname).toBe('http://auth.local/base/oauth/authorize');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: 'cid',
      response_type: 'code',
      redirect_uri: 'https://app/cb',
      state: 's1',
      code_challenge: 'ch',
      code_challenge_method: 'S256',
    });
  });
});

describe('responses and logs', () => {
  it('rejects a 2xx with an unexpected shape as invalid_response', async () => {
    const api = await serve((_req, res) => json(res, 200, { nope: true }));
    const { client } = harness(api.url);
    await expect(client.getCurrentUser('tok')).rejects.toMatchObject({
      kind: 'invalid_response',
      status: 200,
    });
  });

  it('stops paginating on a repeated page token', async () => {
    const api = await serve((_req, res) =>
      json(res, 200, { collection: [subscription], pagination: { next_page_token: 'same' } }),
    );
    const { client } = harness(api.url);
    const all = await client.listWebhookSubscriptions('tok', {
      organization: 'o',
      scope: 'user',
      user: 'u',
    });
    expect(all).toHaveLength(2);
  });

  it('logs failed calls with status and body but never the token or secrets', async () => {
    const api = await serve((req, res) =>
      json(res, 400, {
        title: 'Invalid Argument',
        message: 'The supplied parameters are invalid.',
        details: [{ parameter: 'signing_key', message: 'is too short' }],
        echoed: { signing_key: 'signing-key-value', authorization: req.headers.authorization },
      }),
    );
    const { client, logs } = harness(api.url);
    const error = await client
      .createWebhookSubscription('bearer-token-value', {
        url: 'https://hooks.example/h',
        events: ['invitee.created'],
        organization: 'o',
        user: 'u',
        scope: 'user',
        signingKey: 'signing-key-value',
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      kind: 'validation',
      details: [{ parameter: 'signing_key', message: 'is too short' }],
    });
    expect(logs).toHaveLength(1);
    expect(logs[0]?.obj).toMatchObject({
      method: 'POST',
      path: '/webhook_subscriptions',
      status: 400,
      errorBody: { title: 'Invalid Argument', message: 'The supplied parameters are invalid.' },
    });
    const everything = JSON.stringify({ logs, error, message: (error as Error).message });
    expect(everything).not.toContain('bearer-token-value');
    expect(everything).not.toContain('signing-key-value');
    expect(everything).not.toContain('client-secret-value');
  });
});
