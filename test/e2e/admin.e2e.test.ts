// Proves Bull Board works for an operator in a real browser (headless Chromium): behind basic
// auth it lists every calhook queue with its counts, shows a failed job, and its Retry button
// really retries it in Redis; without credentials the board answers 401.
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { eventually, freePort, testDatabase, testUrls, uniqueId } from '@calhook/testing';
import { type Browser, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The root package depends on no app: like global-setup.ts, this test reaches the sources.
import { buildApiApp } from '../../apps/api/src/index.ts';
import { loadConfig } from '../../packages/config/src/index.ts';
import type { DatabaseHandle } from '../../packages/db/src/index.ts';
import { createLogger } from '../../packages/observability/src/index.ts';
import {
  createProducerRedis,
  createQueues,
  createWorkerRedis,
  createWorkers,
  jobCatalog,
  PermanentJobError,
  type Processor,
  type ProcessorMap,
  type Queues,
  queueNames,
  type Workers,
} from '../../packages/queue/src/index.ts';
import { repoRoot } from './processes.ts';

// The board is read-only by default; this test drives its Retry button, so it turns that off.
const admin = loadConfig(
  { ADMIN_USER: 'ops', ADMIN_PASSWORD: 'browser-password-123', ADMIN_READ_ONLY: 'false' },
  [],
).admin!;
let database: DatabaseHandle;
let producer: ReturnType<typeof createProducerRedis>;
let queues: Queues;
let api: ReturnType<typeof buildApiApp>;
let workers: Workers;
let browser: Browser;
let baseUrl: string;
// The processor fails until the test flips this, as a bug fixed between failure and retry.
let failing = true;

beforeAll(async () => {
  database = testDatabase();
  const prefix = uniqueId('board');
  producer = createProducerRedis(testUrls().redis);
  queues = createQueues(producer, prefix);
  api = buildApiApp({
    logger: createLogger({ level: 'warn' }),
    db: database.db,
    apiToken: 'browser-api-token-0123',
    checkReady: async () => {},
    admin,
    queues: queues.all(),
  });
  const port = await freePort();
  baseUrl = await api.listen({ host: '127.0.0.1', port });
  const processor: Processor<'ingest-event'> = async (payload) => {
    if (payload.body === 'fail' && failing)
      throw new PermanentJobError('processor failed on purpose');
    return { ok: true };
  };
  // Every job name gets the same processor; only ingest-event jobs are added here.
  const processors = Object.fromEntries(
    Object.keys(jobCatalog).map((name) => [name, processor]),
  ) as unknown as ProcessorMap;
  workers = createWorkers({
    prefix,
    processors,
    logger: createLogger({ level: 'silent' }),
    connection: () => createWorkerRedis(testUrls().redis),
    queues: ['events'],
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

afterAll(async () => {
  await browser?.close();
  await workers?.close();
  await api?.close();
  for (const queue of queues.all()) await queue.obliterate({ force: true });
  await queues.close();
  producer.disconnect();
  await database.close();
});

describe('Bull Board at /admin/queues', () => {
  it('shows every queue, and retrying a failed job from the page retries it in Redis', async () => {
    const events = queues.get('events');
    const payload = (body: string) => ({
      hookId: 'h1',
      connectionId: randomUUID(),
      body,
      receivedAt: new Date().toISOString(),
    });
    const done = await queues.enqueue('ingest-event', payload('ok'));
    const failed = await queues.enqueue('ingest-event', payload('fail'));
    await eventually(async () => (await done.getState()) === 'completed', { what: 'job 1' });
    await eventually(async () => (await failed.getState()) === 'failed', { what: 'job 2' });

    const context = await browser.newContext({
      httpCredentials: { username: admin.user, password: admin.password },
      viewport: { width: 1280, height: 800 },
    });
    const page = await context.newPage();
    // Bull Board links a web font; nothing outside this server is needed or allowed.
    await page.route(/^https?:\/\/(?!127\.0\.0\.1)/, (route) => route.abort());
    const response = await page.goto(`${baseUrl}/admin/queues`);
    expect(response?.status()).toBe(200);
    for (const name of queueNames) {
      await page
        .getByRole('link', { name: new RegExp(`^${name}`) })
        .first()
        .waitFor();
    }

    mkdirSync(`${repoRoot}/test-artifacts`, { recursive: true });
    await page.screenshot({ path: `${repoRoot}/test-artifacts/admin-queues.png`, fullPage: true });
    // Each queue's card: its name and job count (events: one completed, one failed).
    await page.getByText('2 Jobs').waitFor();
    // biome-ignore lint/performance/useDomNodeTextContent: Playwright's innerText keeps the rendered line breaks the match below relies on
    const text = await page.locator('body').innerText();
    for (const name of queueNames) expect(text).toContain(name);
    expect(text).toMatch(/events\s+FAILED\s+1\s+2 Jobs/);

    await page.goto(`${baseUrl}/admin/queues/queue/events?status=failed`);
    await page.getByText('processor failed on purpose').first().waitFor();
    await page.screenshot({ path: `${repoRoot}/test-artifacts/admin-queues-failed-job.png` });

    failing = false;
    // The job card's own retry button (an icon; the queue's "Retry all" comes first).
    await page.locator('button:has(svg.lucide-refresh-cw)').last().click();
    const dialog = page.getByRole('alertdialog').filter({ hasText: 'retry this job' });
    await dialog.getByRole('button', { name: /confirm/i }).click();
    await eventually(async () => (await failed.getState()) === 'completed', {
      what: 'the retried job to complete',
    });
    expect(await events.getJobCounts('failed', 'completed')).toEqual({ failed: 0, completed: 2 });
    await context.close();
  });

  it('answers 401 without credentials', async () => {
    const context = await browser.newContext();
    // Chromium turns a bare 401 challenge into a navigation error; ask through the context.
    const response = await context.request.get(`${baseUrl}/admin/queues`);
    expect(response.status()).toBe(401);
    expect(response.headers()['www-authenticate']).toBe('Basic realm="calhook"');
    const page = await context.newPage();
    await expect(page.goto(`${baseUrl}/admin/queues`)).rejects.toThrow(/AUTH/);
    await context.close();
  });
});
