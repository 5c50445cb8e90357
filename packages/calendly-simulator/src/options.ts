export interface SimulatorLogger {
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
}

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
   * Which key signs deliveries of a subscription created with its own `signing_key`.
   * Calendly's docs leave open whether an OAuth app's key overrides it: 'subscription'
   * (default) signs with the subscription's key when it has one, 'app' always with the app key.
   */
  signingKeyPolicy?: 'subscription' | 'app';
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
  /** Source of randomness for the `apiErrorRate` fault. Default Math.random. */
  random?: () => number;
  logger?: SimulatorLogger | false;
}

export type ResolvedOptions = Required<Omit<SimulatorOptions, 'logger'>> & {
  logger: SimulatorLogger;
};

const silent: SimulatorLogger = { info() {}, warn() {} };

export function resolveOptions(options: SimulatorOptions = {}): ResolvedOptions {
  return {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    clientId: options.clientId ?? 'sim-client-id',
    clientSecret: options.clientSecret ?? 'sim-client-secret',
    appSigningKey: options.appSigningKey ?? 'sim-app-signing-key',
    signingKeyPolicy: options.signingKeyPolicy ?? 'subscription',
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
