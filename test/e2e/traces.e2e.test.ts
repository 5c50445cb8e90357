// Proves that the real entry points trace when the OTEL_* variables say so: with the console
// exporter, a delivery's receiver span (printed by the receiver process) and its ingest spans
// (printed by the worker process) carry one trace id, so the context crossed Redis between two
// processes. A bad OTEL_* value stops a role before it serves, naming the variable.
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

async function environment(): Promise<{ env: NodeJS.ProcessEnv; receiverUrl: string }> {
  const receiverPort = await freePort();
  const { databaseUrl, redisEnv } = testUrls();
  return {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      DATABASE_URL: databaseUrl,
      ...redisEnv,
      QUEUE_PREFIX: uniqueId('e2e'),
      RECEIVER_PORT: String(receiverPort),
      API_PORT: String(await freePort()),
      WORKER_PORT: String(await freePort()),
      PUBLIC_URL: `http://127.0.0.1:${receiverPort}`,
      API_TOKEN: randomBytes(18).toString('base64url'),
      ENCRYPTION_KEY: randomBytes(32).toString('base64'),
      LOG_LEVEL: 'warn',
      OTEL_TRACES_EXPORTER: 'console',
    },
    receiverUrl: `http://127.0.0.1:${receiverPort}`,
  };
}

/** Span names by trace id, from what the console exporter printed (one object per span). */
function printedSpans(output: string): { traceId: string; name: string }[] {
  const spans: { traceId: string; name: string }[] = [];
  // Top-level fields are indented by two spaces; the parent's trace id is nested deeper.
  for (const match of output.matchAll(/^ {2}traceId: '(\w{32})',[\s\S]*?^ {2}name: '([^']*)'/gm)) {
    spans.push({ traceId: match[1] as string, name: match[2] as string });
  }
  return spans;
}

async function eventuallyPrinted(
  started: Started,
  found: (spans: { traceId: string; name: string }[]) => boolean,
  what: string,
) {
  const deadline = Date.now() + 20_000;
  while (!found(printedSpans(started.output()))) {
    if (Date.now() > deadline) throw new Error(`no ${what} printed:\n${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('traces from the real processes', () => {
  it("prints one delivery's receiver and worker spans under one trace id", async () => {
    const { env, receiverUrl } = await environment();
    const receiver = startEntry('apps/receiver/src/server.ts', [], env);
    const worker = startEntry('apps/worker/src/server.ts', [], env);
    running.push(receiver, worker);
    await waitReady(receiverUrl, receiver);
    const userId = uniqueId('e2e-user');
    const hook = Object.fromEntries(
      runEntry('apps/all/src/dev-hook.ts', [userId], env)
        .trim()
        .split('\n')
        .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
    );

    const response = await fetch(hook.HOOK_URL as string, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'calendly-webhook-signature': signatureHeader(
          hook.SIGNING_KEY as string,
          Math.floor(Date.now() / 1000),
          exampleBody,
        ),
      },
      body: exampleBody,
    });
    expect(response.status).toBe(200);

    const requestName = 'POST /webhooks/calendly/:hookId';
    await eventuallyPrinted(
      receiver,
      (spans) => spans.some((s) => s.name === requestName),
      'receiver span',
    );
    const request = printedSpans(receiver.output()).find((s) => s.name === requestName);
    await eventuallyPrinted(
      worker,
      (spans) => spans.some((s) => s.name === 'ingest transaction'),
      'ingest span',
    );
    const inWorker = printedSpans(worker.output()).filter((s) => s.traceId === request?.traceId);
    expect(inWorker.map((s) => s.name)).toEqual(
      expect.arrayContaining(['ingest transaction', 'ingest batch']),
    );
    expect(receiver.output()).toContain("'service.name': 'calhook-receiver'");
    expect(worker.output()).toContain("'service.name': 'calhook-worker'");

    running.length = 0;
    expect(await Promise.all([receiver.stop(), worker.stop()])).toEqual([0, 0]);
  });

  it('refuses to start a role with an exporter it cannot send to, naming the variable', async () => {
    const { env } = await environment();
    const bad = startEntry('apps/receiver/src/server.ts', [], {
      ...env,
      OTEL_TRACES_EXPORTER: 'zipkin',
    });
    running.push(bad);
    const code = await new Promise<number | null>((resolve) => {
      if (bad.child.exitCode !== null) resolve(bad.child.exitCode);
      else bad.child.once('exit', resolve);
    });
    expect(code).toBe(1);
    expect(bad.output()).toContain('OTEL_TRACES_EXPORTER names "zipkin"');
    expect(bad.output()).not.toMatch(/\n\s+at /);
  });
});
