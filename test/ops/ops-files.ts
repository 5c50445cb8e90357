// The PromQL in ops/: alert rules and dashboard panels, and the calhook metrics they name.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const opsDir = fileURLToPath(new URL('../../ops', import.meta.url));
export const alertsFile = `${opsDir}/prometheus/alerts.yml`;
export const alertTestsFile = `${opsDir}/prometheus/alerts.test.yml`;
export const dashboardFile = `${opsDir}/grafana/calhook.json`;

interface Rule {
  alert: string;
  expr: string;
}

export function alertRules(): Rule[] {
  const file = parse(readFileSync(alertsFile, 'utf8')) as { groups: { rules: Rule[] }[] };
  return file.groups.flatMap((group) => group.rules);
}

interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: { expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}

export function dashboard(): { uid: string; panels: Panel[] } {
  return JSON.parse(readFileSync(dashboardFile, 'utf8'));
}

/** Every panel that draws something (rows hold panels but query nothing). */
export function dashboardPanels(): Panel[] {
  const all: Panel[] = [];
  const walk = (panels: Panel[]) => {
    for (const panel of panels) {
      if (panel.type === 'row') walk(panel.panels ?? []);
      else all.push(panel);
    }
  };
  walk(dashboard().panels);
  return all;
}

export function dashboardExpressions(): string[] {
  return dashboardPanels().flatMap((panel) => (panel.targets ?? []).map((t) => t.expr));
}

/**
 * The calhook series names an expression reads. Every calhook metric is prefixed calhook_, and
 * no label, function or keyword is, so the prefix alone finds them in PromQL.
 */
export function metricNames(expressions: readonly string[]): string[] {
  const names = expressions.flatMap((expr) => expr.match(/\bcalhook_[a-z0-9_]+\b/g) ?? []);
  return [...new Set(names)].sort();
}

/** The metric a series belongs to: a histogram's _bucket, _sum and _count are its own. */
export function metricOf(seriesName: string, histograms: ReadonlySet<string>): string {
  const base = seriesName.replace(/_(bucket|sum|count)$/, '');
  return histograms.has(base) ? base : seriesName;
}
