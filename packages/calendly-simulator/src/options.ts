import type { Settings } from './state.ts';

export interface SimulatorLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

export type SigningKeyPolicy = 'token-kind' | 'subscription' | 'app';

export interface SimulatorOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 0: a random free port. */
  port?: number;
  /** Default 'sim-client-id'. */
  clientId?: string;
  /** Default 'sim-client-secret'. */
  clientSecret?: string;
  /** The OAuth app's webhook signing key. Default 'sim-app-signing-key'. */
  appSigningKey?: string;
  /**
   * Which key signs a subscription's deliveries. 'token-kind' (default), as Calendly documents
   * it: subscriptions created with an OAuth access token (one from `/oauth/token`) are signed
   * with the app key, those created with a personal access token with their own `signing_key`
   * (the app key when none was given). 'subscription' signs every subscription with its own key
   * when it has one; 'app' always with the app key.
   */
  signingKeyPolicy?: SigningKeyPolicy;
  /**
   * Whether Free-plan users may create webhook subscriptions. 'allowed' (default): webhooks
   * work on every plan since Calendly's 2026-11-03 release. 'refused': the older gate, a 403
   * "Please upgrade to a paid Calendly account.". Also switchable at run time (`/_sim/plans`).
   */
  freePlanWebhooks?: 'allowed' | 'refused';
  /** Delay added to every API and OAuth call, in ms (also `/_sim/latency`). Default 0. */
  latencyMs?: number;
  /** A uniform random extra delay of 0..latencyJitterMs on top of `latencyMs`. Default 0. */
  latencyJitterMs?: number;
  /** Default 7200. */
  accessTokenLifetimeSeconds?: number;
  /** API requests per user per minute on paid plans. Default 500. */
  requestsPerMinute?: number;
  /** API requests per user per minute on the free plan. Default 50. */
  freePlanRequestsPerMinute?: number;
  /** `/oauth/token` requests per user per minute. Default 8. */
  tokenRequestsPerMinute?: number;
  /** How long deliveries may keep failing before a subscription turns disabled. Default 86400. */
  disableAfterSeconds?: number;
  /** Default 15000. */
  deliveryTimeoutMs?: number;
  /** First retry delay after a failed delivery; doubles per attempt, capped at 64x. Default 1000. */
  retryBaseMs?: number;
  /** Epoch ms. Drives token expiry, rate-limit windows, timestamps, signature `t` and the disable window. */
  now?: () => number;
  /** Source of randomness for latency jitter and the rate faults. Default Math.random. */
  random?: () => number;
  logger?: SimulatorLogger | false;
}

export type ResolvedOptions = Required<Omit<SimulatorOptions, 'logger'>> & {
  logger: SimulatorLogger;
};

const silent: SimulatorLogger = { info() {}, warn() {} };

function nonNegative(name: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (!Number.isFinite(value) || value < 0) {
    throw new Error(`simulator option ${name} must be a number of ms >= 0, got ${value}`);
  }
  return value;
}

export function resolveOptions(options: SimulatorOptions = {}): ResolvedOptions {
  return {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    clientId: options.clientId ?? 'sim-client-id',
    clientSecret: options.clientSecret ?? 'sim-client-secret',
    appSigningKey: options.appSigningKey ?? 'sim-app-signing-key',
    signingKeyPolicy: options.signingKeyPolicy ?? 'token-kind',
    freePlanWebhooks: options.freePlanWebhooks ?? 'allowed',
    latencyMs: nonNegative('latencyMs', options.latencyMs),
    latencyJitterMs: nonNegative('latencyJitterMs', options.latencyJitterMs),
    accessTokenLifetimeSeconds: options.accessTokenLifetimeSeconds ?? 7200,
    requestsPerMinute: options.requestsPerMinute ?? 500,
    freePlanRequestsPerMinute: options.freePlanRequestsPerMinute ?? 50,
    tokenRequestsPerMinute: options.tokenRequestsPerMinute ?? 8,
    disableAfterSeconds: options.disableAfterSeconds ?? 86_400,
    deliveryTimeoutMs: options.deliveryTimeoutMs ?? 15_000,
    retryBaseMs: options.retryBaseMs ?? 1000,
    now: options.now ?? Date.now,
    random: options.random ?? Math.random,
    logger: options.logger === false || options.logger === undefined ? silent : options.logger,
  };
}

/** The run-time settings a fresh (or reset) simulator starts with. */
export function initialSettings(options: ResolvedOptions): Settings {
  return {
    latencyMs: options.latencyMs,
    latencyJitterMs: options.latencyJitterMs,
    freePlanWebhooks: options.freePlanWebhooks,
  };
}
