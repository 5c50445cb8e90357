// Proves ops/ reads what calhook really exports: a real Prometheus scrapes the three roles
// (with the admin basic auth they require) while a connected simulator user books a meeting,
// gets a token refresh and a reconcile, and a forged delivery is refused; then every metric
// the alert rules and the dashboard name has series in Prometheus, every rule evaluates
// without error, and every dashboard query runs. A renamed metric fails here.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createProducerRedis, createQueues } from '@calhook/queue';
import { eventually, freePort, testUrls, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  alertRules,
  alertsFile,
  dashboardExpressions,
  dashboardPanels,
  metricNames,
} from '../ops/ops-files.ts';
import { type Started, startEntry, waitReady } from './processes.ts';

const prometheusBinary = process.env.PROMETHEUS ?? 'prometheus';
const admin = { user: 'ops', password: 'scrape-password-1234' };
const basic = `Basic ${Buffer.from(`${admin.user}:${admin.password}`).toString('base64')}`;

const processes: Started[] = [];
let prometheus: ChildProcess | undefined;
let prometheusUrl = '';
let dataDir = '';
let queuePrefix = '';
const roles: Record<'receiver' | 'api' | 'worker', string> = { receiver: '', api: '', worker: '' };

beforeAll(async () => {
  const { databaseUrl, redisUrl } = testUrls();
  const simPort = await freePort();
  const simulator = startEntry('apps/simulator/src/main.ts', [], {
    PATH: process.env.PATH,
    SIM_PORT: String(simPort),
  });
  processes.push(simulator);
  const simUrl = `http://127.0.0.1:${simPort}`;
  await eventually(() => simulator.output().includes('Calendly simulator on'), {
    timeoutMs: 30_000,
    what: 'the simulator',
  });

  const ports = { receiver: await freePort(), api: await freePort(), worker: await freePort() };
  queuePrefix = uniqueId('prom');
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: queuePrefix,
    RECEIVER_PORT: String(ports.receiver),
    API_PORT: String(ports.api),
    WORKER_PORT: String(ports.worker),
    PUBLIC_URL: `http://127.0.0.1:${ports.receiver}`,
    API_TOKEN: 'prometheus-e2e-api-token',
    ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'),
    ADMIN_USER: admin.user,
    ADMIN_PASSWORD: admin.password,
    CALENDLY_API_URL: simUrl,
    CALENDLY_AUTH_URL: simUrl,
    CALENDLY_CLIENT_ID: 'sim-client-id',
    CALENDLY_CLIENT_SECRET: 'sim-client-secret',
    CALENDLY_WEBHOOK_SIGNING_KEY: 'sim-app-signing-key',
    LOG_LEVEL: 'warn',
  };
  for (const role of ['receiver', 'api', 'worker'] as const) {
    const started = startEntry(`apps/${role}/src/server.ts`, [], env);
    processes.push(started);
    roles[role] = `http://127.0.0.1:${ports[role]}`;
    await waitReady(roles[role], started);
  }

  dataDir = mkdtempSync(join(tmpdir(), 'calhook-prometheus-e2e-'));
  const target = (url: string) => new URL(url).host;
  writeFileSync(
    join(dataDir, 'prometheus.yml'),
    JSON.stringify({
      global: { scrape_interval: '1s', evaluation_interval: '1s' },
      rule_files: [alertsFile],
      scrape_configs: (['receiver', 'api', 'worker'] as const).map((role) => ({
        job_name: `calhook-${role}`,
        basic_auth: { username: admin.user, password: admin.password },
        static_configs: [{ targets: [target(roles[role])] }],
      })),
    }),
  );
  const port = await freePort();
  prometheusUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(
    prometheusBinary,
    [
      `--config.file=${join(dataDir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dataDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let prometheusLog = '';
  prometheus.stderr?.on('data', (chunk) => {
    prometheusLog += chunk;
  });
  prometheus.once('error', (error) => {
    prometheusLog += `${prometheusBinary} did not run (${error.message}): install Prometheus (Debian: apt-get install prometheus) or set PROMETHEUS`;
  });
  await eventually(
    async () => {
      if (prometheus?.exitCode !== null || prometheusLog.includes('did not run')) {
        throw new Error(`prometheus is not running:\n${prometheusLog}`);
      }
      return (await fetch(`${prometheusUrl}/-/ready`)).ok;
    },
    { timeoutMs: 30_000, what: 'Prometheus ready' },
  ).catch((error) => {
    throw new Error(`${error.message}\n${prometheusLog}`);
  });

  // Activity, so that every labelled series exists: a user connected with a token about to
  // expire (a refresh), a booking delivered (ingest), a forged delivery (a signature failure),
  // and a reconcile (subscription actions).
  // biome-ignore lint/suspicious/noExplicitAny: the simulator's and calhook's JSON, read field by field
  const sim = async (path: string, body: unknown): Promise<any> => {
    const response = await fetch(`${simUrl}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(response.ok).toBe(true);
    return response.json();
  };
  // biome-ignore lint/suspicious/noExplicitAny: the simulator's and calhook's JSON, read field by field
  const api = async (method: string, path: string, body?: unknown): Promise<any> => {
    const response = await fetch(`${roles.api}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${env.API_TOKEN}`,
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    expect(response.status).toBeLessThan(300);
    return response.status === 202 ? null : response.json();
  };
  const user = await sim('/_sim/users', { email: `${uniqueId('host')}@example.com` });
  const tokens = await sim('/_sim/tokens', { userUri: user.uri, lifetimeSeconds: 120 });
  const connection = await api('PUT', `/v1/connections/${uniqueId('u')}`, {
    accessToken: tokens.access_token,
    refreshToken: tokens.refresh_token,
    expiresAt: new Date(Date.now() + tokens.expires_in * 1000).toISOString(),
  });
  await sim('/_sim/book', { userUri: user.uri, inviteeEmail: 'client@example.com' });
  const forged = await fetch(connection.webhook.callbackUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'calendly-webhook-signature': 't=1,v1=00' },
    body: '{}',
  });
  expect(forged.status).toBe(401);
  await api('POST', `/v1/connections/${connection.userId}/reconcile`);
}, 120_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((resolve) => prometheus?.once('exit', resolve));
    prometheus.kill('SIGTERM');
    await exited;
  }
  await Promise.all(processes.map((p) => p.stop()));
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  if (queuePrefix) {
    const redis = createProducerRedis(testUrls().redisUrl);
    const queues = createQueues(redis, queuePrefix);
    for (const queue of queues.all()) await queue.obliterate({ force: true });
    await queues.close();
    redis.disconnect();
  }
});

// biome-ignore lint/suspicious/noExplicitAny: Prometheus's API answers are read field by field
async function query(promql: string): Promise<any> {
  const response = await fetch(
    `${prometheusUrl}/api/v1/query?${new URLSearchParams({ query: promql })}`,
  );
  return response.json();
}

describe('a real Prometheus scraping calhook', () => {
  it('scrapes the three roles, which refuse a scrape without the admin login', async () => {
    for (const url of Object.values(roles)) {
      expect((await fetch(`${url}/metrics`)).status).toBe(401);
      expect((await fetch(`${url}/metrics`, { headers: { authorization: basic } })).status).toBe(
        200,
      );
    }
    await eventually(
      async () => {
        const up = await query('up{job=~"calhook-.*"} == 1');
        return up.data.result.length === 3;
      },
      { timeoutMs: 20_000, what: 'all three roles up in Prometheus' },
    );
  });

  it('has series for every metric the alert rules and the dashboard name', async () => {
    const named = metricNames([...alertRules().map((r) => r.expr), ...dashboardExpressions()]);
    let missing: string[] = named;
    await eventually(
      async () => {
        const present = await query('count by (__name__) ({__name__=~"calhook_.*"})');
        const names = new Set(
          (present.data.result as { metric: { __name__: string } }[]).map((r) => r.metric.__name__),
        );
        missing = named.filter((name) => !names.has(name));
        return missing.length === 0;
      },
      { timeoutMs: 45_000, what: 'series for every named metric' },
    ).catch(() => {
      throw new Error(`no series in Prometheus for: ${missing.join(', ')}`);
    });
  });

  it('evaluates every alert rule without an error, and none fires', async () => {
    // biome-ignore lint/suspicious/noExplicitAny: Prometheus's rules API, read field by field
    let rules: any[] = [];
    await eventually(
      async () => {
        const answer = (await (await fetch(`${prometheusUrl}/api/v1/rules`)).json()) as {
          data: { groups: { rules: unknown[] }[] };
        };
        rules = answer.data.groups.flatMap((group) => group.rules);
        return rules.length > 0 && rules.every((rule) => rule.health !== 'unknown');
      },
      { timeoutMs: 20_000, what: 'every rule evaluated once' },
    );
    expect(rules.map((rule) => rule.name).sort()).toEqual(
      alertRules()
        .map((rule) => rule.alert)
        .sort(),
    );
    expect(
      rules.filter((rule) => rule.health !== 'ok').map((rule) => `${rule.name}: ${rule.lastError}`),
    ).toEqual([]);
    // A healthy calhook sets nothing off (a rule may be pending: `for` has not passed).
    expect(rules.filter((rule) => rule.state === 'firing').map((rule) => rule.name)).toEqual([]);
  });

  it('runs every dashboard query without an error', async () => {
    const failures: string[] = [];
    for (const panel of dashboardPanels()) {
      for (const target of panel.targets ?? []) {
        // Grafana's own variable: the range Prometheus rates over.
        const promql = target.expr.replaceAll('$__rate_interval', '1m');
        const answer = await query(promql);
        if (answer.status !== 'success') failures.push(`${panel.title}: ${answer.error}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
