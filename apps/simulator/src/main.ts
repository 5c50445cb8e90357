// Standalone Calendly simulator for local demos and process-level tests: `pnpm sim`
// (`node apps/simulator/src/main.ts`), configured by SIM_* variables.
import { type SimulatorOptions, startSimulator } from '@calhook/calendly-simulator';

function integer(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number`);
  return value;
}

function oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new Error(`${name} must be one of ${allowed.join(', ')}`);
  }
  return raw as T;
}

const clientId = process.env.SIM_CLIENT_ID || 'sim-client-id';
const clientSecret = process.env.SIM_CLIENT_SECRET || 'sim-client-secret';
const appSigningKey = process.env.SIM_APP_SIGNING_KEY || 'sim-app-signing-key';

const simulator = await startSimulator({
  port: integer('SIM_PORT', 3100),
  host: process.env.SIM_HOST || '127.0.0.1',
  clientId,
  clientSecret,
  appSigningKey,
  accessTokenLifetimeSeconds: integer('SIM_TOKEN_LIFETIME', 7200),
  signingKeyPolicy: oneOf<NonNullable<SimulatorOptions['signingKeyPolicy']>>(
    'SIM_SIGNING_KEY_POLICY',
    ['token-kind', 'subscription', 'app'],
  ),
  freePlanWebhooks: oneOf('SIM_FREE_PLAN_WEBHOOKS', ['allowed', 'refused'] as const),
  latencyMs: integer('SIM_LATENCY_MS', 0),
  latencyJitterMs: integer('SIM_LATENCY_JITTER_MS', 0),
  logger: console,
});
const user = await simulator.control.createUser({ name: 'Demo User', email: 'demo@example.com' });

console.log(`Calendly simulator on ${simulator.url}
  CALENDLY_API_URL=${simulator.url}
  CALENDLY_AUTH_URL=${simulator.url}
  CALENDLY_CLIENT_ID=${clientId}
  CALENDLY_CLIENT_SECRET=${clientSecret}
  CALENDLY_WEBHOOK_SIGNING_KEY=${appSigningKey}
Demo user ${user.uri} <${user.email}>
  organization: ${user.organizationUri}
  personal access token: ${user.personalAccessToken}
Control API under ${simulator.url}/_sim (e.g. POST /_sim/book {"userUri": "${user.uri}"}).
For a shell: export SIM_USER=${user.uri} SIM_TOKEN=${user.personalAccessToken}`);

// Every signal, not only the first: Ctrl-C under `npm run sim` delivers two (the terminal's and
// the one npm passes on), and the second must not cut the close short.
let closing = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return;
    closing = true;
    simulator.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
