// Proves what the README promises: the real entry points start against Postgres and Redis,
// a signed delivery of the example body becomes a meeting readable through the API, and
// SIGTERM stops every process cleanly (exit 0), and a bad environment (including an OAuth app
// without its webhook signing key) stops a role before it serves anything. Measures one
// delivery's end-to-end latency.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { freePort, testUrls, uniqueId } from '@calhook/testing';
import { signatureHeader } from '@calhook/webhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { repoRoot, runEntry, type Started, startEntry, waitReady } from './processes.ts';

const exampleBody = readFileSync(`${repoRoot}/examples/invitee-created.json`);
const running: Started[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function environment() {
  const receiverPort = await freePort();
  const apiPort = await freePort();
  const { databaseUrl, redisEnv } = testUrls();
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    ...redisEnv,
    QUEUE_PREFIX: uniqueId('e2e'),
    RECEIVER_PORT: String(receiverPort),
    API_PORT: String(apiPort),
    WORKER_PORT: String(await freePort()),
    PUBLIC_URL: `http://127.0.0.1:${receiverPort}`,
    API_TOKEN: randomBytes(18).toString('base64url'),
    ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    LOG_LEVEL: 'warn',
  };
  return {
    env,
    receiverUrl: `http://127.0.0.1:${receiverPort}`,
    apiUrl: `http://127.0.0.1:${apiPort}`,
  };
}

async function deliverAndRead(env: NodeJS.ProcessEnv, apiUrl: string) {
  const userId = uniqueId('e2e-user');
  const hook = Object.fromEntries(
    runEntry('apps/all/src/dev-hook.ts', [userId], env)
      .trim()
      .split('\n')
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
  expect(hook.HOOK_URL).toMatch(/\/webhooks\/calendly\/[\w-]{32}$/);

  const sentAt = performance.now();
  const response = await fetch(hook.HOOK_URL!, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'calendly-webhook-signature': signatureHeader(
        hook.SIGNING_KEY!,
        Math.floor(Date.now() / 1000),
        exampleBody,
      ),
    },
    body: exampleBody,
  });
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ status: 'accepted' });

  let meetings: { name: string; invitees: { email: string }[] }[] = [];
  const deadline = Date.now() + 10_000;
  while (meetings.length === 0 && Date.now() < deadline) {
    const listed = await fetch(`${apiUrl}/v1/users/${userId}/meetings`, {
      headers: { authorization: `Bearer ${env.API_TOKEN}` },
    });
    expect(listed.status).toBe(200);
    meetings = ((await listed.json()) as { meetings: typeof meetings }).meetings;
    if (meetings.length === 0) await new Promise((r) => setTimeout(r, 5));
  }
  const latencyMs = performance.now() - sentAt;
  expect(meetings).toHaveLength(1);
  expect(meetings[0]).toMatchObject({
    name: 'Annual review',
    invitees: [{ email: 'client@example.com' }],
  });
  return latencyMs;
}

describe('pnpm start (every role in one process)', () => {
  it('migrates, serves a delivery through to the API, and exits 0 on SIGTERM', async () => {
    const { env, receiverUrl, apiUrl } = await environment();
    const all = startEntry('apps/all/src/main.ts', ['--migrate'], env);
    running.push(all);
    await waitReady(receiverUrl, all);
    await waitReady(apiUrl, all);
    const latencyMs = await deliverAndRead(env, apiUrl);
    console.log(`e2e: one delivery, send to visible in the API: ${latencyMs.toFixed(1)} ms`);
    running.splice(running.indexOf(all), 1);
    expect(await all.stop()).toBe(0);
  });
});

describe('each role alone (start:receiver, start:api, start:worker)', () => {
  it('serves a delivery through three processes and each exits 0 on SIGTERM', async () => {
    const { env, receiverUrl, apiUrl } = await environment();
    const receiver = startEntry('apps/receiver/src/server.ts', [], env);
    const api = startEntry('apps/api/src/server.ts', [], env);
    const worker = startEntry('apps/worker/src/server.ts', [], env);
    running.push(receiver, api, worker);
    await waitReady(receiverUrl, receiver);
    await waitReady(apiUrl, api);
    await deliverAndRead(env, apiUrl);
    running.length = 0;
    expect(await Promise.all([receiver.stop(), api.stop(), worker.stop()])).toEqual([0, 0, 0]);
  });

  it('refuses to start with a bad environment, naming every bad key', async () => {
    const { env } = await environment();
    const bad = startEntry('apps/api/src/server.ts', [], {
      ...env,
      API_TOKEN: '',
      RECEIVER_PORT: 'x',
    });
    const code = await new Promise<number | null>((resolve) => bad.child.once('exit', resolve));
    expect(code).not.toBe(0);
    expect(bad.output()).toContain('Invalid configuration');
    expect(bad.output()).toContain('API_TOKEN');
    expect(bad.output()).not.toMatch(/\n\s+at /);
    expect(bad.output()).toContain('RECEIVER_PORT');
    expect(bad.output()).not.toContain(env.ENCRYPTION_KEY!);
  });

  it('refuses to start any role with CALENDLY_CLIENT_ID set and no webhook signing key', async () => {
    const { env } = await environment();
    const oauthWithoutKey = {
      ...env,
      CALENDLY_CLIENT_ID: 'oauth-app-client-id',
      CALENDLY_CLIENT_SECRET: 'oauth-app-client-secret',
    };
    const roles = ['receiver', 'api', 'worker'].map((role) =>
      startEntry(`apps/${role}/src/server.ts`, [], oauthWithoutKey),
    );
    running.push(...roles);
    const codes = await Promise.all(
      roles.map(
        (started) =>
          new Promise<number | null>((resolve) => {
            if (started.child.exitCode !== null) resolve(started.child.exitCode);
            else started.child.once('exit', resolve);
          }),
      ),
    );
    for (const [index, started] of roles.entries()) {
      expect(codes[index]).not.toBe(0);
      expect(started.output()).toContain('Invalid configuration');
      expect(started.output()).toMatch(
        /CALENDLY_WEBHOOK_SIGNING_KEY: required when CALENDLY_CLIENT_ID/,
      );
      expect(started.output()).not.toMatch(/\n\s+at /);
      expect(started.output()).not.toContain('oauth-app-client-secret');
    }
  });
});
