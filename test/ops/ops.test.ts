// Proves the operator files hold together without running anything: the alert rules are valid
// and each fires in its promtool unit test; every metric the rules and the dashboard read is
// one calhook registers; the dashboard's panels all query its Prometheus variable; and
// docker-compose.yml's observability profile gives Prometheus a valid config with these rules
// and Grafana this dashboard. (test/e2e/prometheus.e2e.test.ts checks them against live roles.)
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createMetrics } from '../../packages/observability/src/index.ts';
import { repoRoot } from '../e2e/processes.ts';
import {
  alertRules,
  alertsFile,
  alertTestsFile,
  dashboard,
  dashboardExpressions,
  dashboardPanels,
  metricNames,
  metricOf,
} from './ops-files.ts';

const promtool = process.env.PROMTOOL ?? 'promtool';
/** `${name}`, as Grafana and Compose write a variable. */
const variable = (name: string) => `\${${name}}`;

function run(args: string[]) {
  const result = spawnSync(promtool, args, { encoding: 'utf8' });
  if (result.error) {
    throw new Error(
      `${promtool} did not run (${result.error.message}): install Prometheus's tools ` +
        '(Debian: apt-get install prometheus) or set PROMTOOL',
    );
  }
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('ops/prometheus/alerts.yml', () => {
  it('is valid, and passes its promtool unit tests', () => {
    const checked = run(['check', 'rules', alertsFile]);
    expect(checked.output).toContain('SUCCESS');
    expect(checked.code).toBe(0);
    const tested = run(['test', 'rules', alertTestsFile]);
    expect(tested.output).toContain('SUCCESS');
    expect(tested.code).toBe(0);
  });

  it('has a unit test in which each alert fires', () => {
    const tests = parse(readFileSync(alertTestsFile, 'utf8')) as {
      tests: { alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const fired = new Set(
      tests.tests
        .flatMap((t) => t.alert_rule_test)
        .filter((t) => t.exp_alerts.length > 0)
        .map((t) => t.alertname),
    );
    const alerts = alertRules().map((rule) => rule.alert);
    expect(alerts.length).toBeGreaterThan(0);
    expect(alerts.filter((alert) => !fired.has(alert))).toEqual([]);
  });
});

describe('the metrics ops/ reads', () => {
  it('are all registered by calhook', async () => {
    const registered = await createMetrics({ processMetrics: false }).registry.getMetricsAsJSON();
    const names = new Set(registered.map((metric) => metric.name));
    const histograms = new Set(
      registered
        .filter((metric) => String(metric.type) === 'histogram')
        .map((metric) => metric.name),
    );
    const read = metricNames([...alertRules().map((rule) => rule.expr), ...dashboardExpressions()]);
    expect(read.length).toBeGreaterThan(10);
    expect(read.filter((series) => !names.has(metricOf(series, histograms)))).toEqual([]);
  });
});

describe('ops/grafana/calhook.json', () => {
  it('queries the Prometheus the viewer picks, in every panel', () => {
    expect(dashboard().uid).toBe('calhook');
    const panels = dashboardPanels();
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) {
      expect(panel.datasource, panel.title).toEqual({
        type: 'prometheus',
        uid: variable('datasource'),
      });
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) {
        expect(target.expr.trim(), panel.title).not.toBe('');
        expect(target.datasource?.uid, panel.title).toBe(variable('datasource'));
      }
    }
  });
});

describe("docker-compose.yml's observability profile", () => {
  const compose = parse(readFileSync(`${repoRoot}/docker-compose.yml`, 'utf8'));
  const prometheus = compose.services.prometheus;
  const grafana = compose.services.grafana;

  it('gives Prometheus a valid config that loads the alert rules it mounts', () => {
    expect(prometheus.profiles).toEqual(['observability']);
    const mount = (prometheus.volumes as string[]).find((v) => v.startsWith('./ops/prometheus/'));
    const [source, target] = (mount ?? '').split(':') as [string, string];
    expect(source).toBe('./ops/prometheus/alerts.yml');
    // Compose fills ${ADMIN_USER:-} and ${ADMIN_PASSWORD:-} in; so does this test.
    const content = String(compose.configs['prometheus-config'].content)
      .replace(variable('ADMIN_USER:-'), 'admin')
      .replace(variable('ADMIN_PASSWORD:-'), 'a-password-of-24-chars!!');
    expect(content).not.toContain('$');
    const config = parse(content);
    expect(config.rule_files).toEqual([target]);
    expect(config.scrape_configs.map((s: { job_name: string }) => s.job_name)).toEqual([
      'calhook-receiver',
      'calhook-api',
      'calhook-worker',
    ]);

    const dir = mkdtempSync(join(tmpdir(), 'calhook-prometheus-'));
    try {
      copyFileSync(alertsFile, join(dir, 'alerts.yml'));
      writeFileSync(join(dir, 'prometheus.yml'), content.replace(target, join(dir, 'alerts.yml')));
      const checked = run(['check', 'config', join(dir, 'prometheus.yml')]);
      expect(checked.output).toContain('SUCCESS');
      expect(checked.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives Grafana this dashboard and a Prometheus data source', () => {
    expect(grafana.profiles).toEqual(['observability']);
    const mounts = Object.fromEntries(
      (grafana.volumes as string[])
        .filter((v) => v.startsWith('./'))
        .map((v) => v.split(':').slice(0, 2) as [string, string]),
    );
    expect(mounts['./ops/grafana/calhook.json']).toBe('/etc/grafana/dashboards/calhook.json');
    expect(mounts['./ops/grafana/provisioning']).toBe('/etc/grafana/provisioning');
    const provisioning = `${repoRoot}/ops/grafana/provisioning`;
    const provider = parse(readFileSync(`${provisioning}/dashboards/calhook.yml`, 'utf8'));
    expect(provider.providers[0].options.path).toBe('/etc/grafana/dashboards');
    const sources = parse(readFileSync(`${provisioning}/datasources/prometheus.yml`, 'utf8'));
    expect(sources.datasources[0]).toMatchObject({
      type: 'prometheus',
      url: 'http://prometheus:9090',
      isDefault: true,
    });
    expect(existsSync(`${repoRoot}/ops/grafana/calhook.json`)).toBe(true);
  });
});
