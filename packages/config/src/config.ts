import { z } from 'zod';
import { parseDuration } from './duration.ts';

/** Which process is starting: each role requires only the secrets it uses. */
export type Role = 'receiver' | 'api' | 'worker';

const url = (fallback: string) =>
  z
    .url({ message: 'must be an absolute URL' })
    .default(fallback)
    .transform((value) => value.replace(/\/+$/, ''));

const port = (fallback: number) => z.coerce.number().int().min(0).max(65_535).default(fallback);

const duration = (fallback: string, min = 1_000) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const ms = parseDuration(value);
      if (ms === null || ms < min) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a duration like 30s, 15m, 2h or 1d, at least ${min / 1000}s`,
        });
        return z.NEVER;
      }
      return ms;
    });

const optionalSecret = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value === '' ? undefined : value));

const base64Key = z.string().transform((value, ctx) => {
  const bytes = Buffer.from(value, 'base64');
  if (
    bytes.length !== 32 ||
    bytes.toString('base64').replace(/=+$/, '') !== value.trim().replace(/=+$/, '')
  ) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be 32 bytes encoded as base64 (openssl rand -base64 32)',
    });
    return z.NEVER;
  }
  return bytes;
});

/** Every variable calhook reads, with the reason it exists and an explicit coercion. */
export const envSchema = z.object({
  // Postgres; the migrate command creates the database if it is missing.
  DATABASE_URL: url('postgres://postgres@127.0.0.1:5432/calhook'),
  // Redis for BullMQ. Production Redis must run with AOF and maxmemory-policy noeviction.
  REDIS_URL: url('redis://127.0.0.1:6379'),
  // BullMQ key prefix, so several deployments or test runs can share one Redis.
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.{}-]+$/, 'letters, digits, _ . - { } only')
    .default('calhook'),
  // Interface every role listens on.
  HOST: z.string().min(1).default('127.0.0.1'),
  RECEIVER_PORT: port(3000),
  API_PORT: port(3001),
  // Base URL Calendly reaches the receiver at; callback URLs are built from it.
  PUBLIC_URL: url('http://127.0.0.1:3000'),
  // Base URL browsers reach the api role at: the hosted OAuth flow's redirect URI is built from it.
  API_PUBLIC_URL: url('http://127.0.0.1:3001'),
  // The worker's small HTTP server (/metrics, /healthz, /readyz).
  WORKER_PORT: port(3002),
  // Ingest jobs one worker process runs at once; its Postgres pool is sized to match.
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(5000).default(500),
  // Calendly, or a stand-in such as the simulator.
  CALENDLY_API_URL: url('https://api.calendly.com'),
  CALENDLY_AUTH_URL: url('https://auth.calendly.com'),
  // OAuth app credentials; needed to exchange codes and refresh tokens.
  CALENDLY_CLIENT_ID: optionalSecret,
  CALENDLY_CLIENT_SECRET: optionalSecret,
  // The OAuth app's webhook signing key, accepted for every hook.
  CALENDLY_WEBHOOK_SIGNING_KEY: optionalSecret,
  // Bearer token the app backend sends to /v1/*.
  API_TOKEN: optionalSecret.refine((v) => v === undefined || v.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  // Basic auth for Bull Board at /admin/queues.
  ADMIN_USER: optionalSecret,
  ADMIN_PASSWORD: optionalSecret,
  // Bull Board without retry/remove/clean buttons.
  ADMIN_READ_ONLY: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
  // Encrypts tokens and signing keys at rest (AES-256-GCM).
  ENCRYPTION_KEY: base64Key.optional(),
  // Earlier encryption keys, comma-separated, still accepted for reading during a key rotation.
  ENCRYPTION_KEYS_PREVIOUS: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const keys: Buffer[] = [];
      for (const part of (value ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const bytes = Buffer.from(part, 'base64');
        if (bytes.length !== 32) {
          ctx.addIssue({ code: 'custom', message: 'every key must be 32 bytes of base64' });
          return z.NEVER;
        }
        keys.push(bytes);
      }
      return keys;
    }),
  // Accepted signature age, both directions (Calendly's own sample uses 180 s).
  WEBHOOK_TOLERANCE_SECONDS: z.coerce.number().int().min(1).max(3_600).default(180),
  // How long a replaced hook's URL and key stay accepted: deliveries already in flight.
  HOOK_GRACE_PERIOD: duration('1h', 0),
  // How often every connection is reconciled.
  RECONCILE_EVERY: duration('15m', 60_000),
  // How long before expiry access tokens are refreshed.
  REFRESH_BEFORE_EXPIRY: duration('10m'),
  // Routine backfill window around now, and the wider one imported on first connect.
  BACKFILL_PAST: duration('7d', 0),
  // How often every connection is backfilled even when nothing looked wrong.
  BACKFILL_EVERY: duration('6h', 60_000),
  BACKFILL_FUTURE: duration('60d', 0),
  INITIAL_BACKFILL_PAST: duration('90d', 0),
  INITIAL_BACKFILL_FUTURE: duration('180d', 0),
  // pino level.
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Human-readable logs for development; JSON otherwise.
  LOG_PRETTY: z
    .enum(['true', 'false', '1', '0'])
    .default('false')
    .transform((v) => v === 'true' || v === '1'),
});

type Env = z.output<typeof envSchema>;

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  host: string;
  receiverPort: number;
  apiPort: number;
  publicUrl: string;
  apiPublicUrl: string;
  workerPort: number;
  workerConcurrency: number;
  calendly: {
    apiUrl: string;
    authUrl: string;
    clientId: string | undefined;
    clientSecret: string | undefined;
    webhookSigningKey: string | undefined;
  };
  apiToken: string | undefined;
  admin: { user: string; password: string; readOnly: boolean } | undefined;
  /** Current key first, then earlier keys still accepted for reading. Empty if none is set. */
  encryptionKeys: Buffer[];
  webhookToleranceSeconds: number;
  hookGracePeriodMs: number;
  reconcileEveryMs: number;
  refreshBeforeExpiryMs: number;
  backfill: {
    pastMs: number;
    futureMs: number;
    initialPastMs: number;
    initialFutureMs: number;
    everyMs: number;
  };
  log: { level: Env['LOG_LEVEL']; pretty: boolean };
}

/** Thrown when the environment is invalid; the message names every bad key, never a value. */
export class ConfigError extends Error {
  readonly problems: { key: string; message: string }[];
  constructor(problems: { key: string; message: string }[]) {
    super(
      `Invalid configuration:\n${problems.map((p) => `  - ${p.key}: ${p.message}`).join('\n')}`,
    );
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const requiredByRole: Record<Role, (keyof Env)[]> = {
  receiver: ['ENCRYPTION_KEY'],
  worker: ['ENCRYPTION_KEY'],
  api: ['ENCRYPTION_KEY', 'API_TOKEN'],
};

/**
 * Parses the environment once, at an entry point. Empty strings count as unset. Throws
 * ConfigError naming every bad or missing key for the given roles.
 */
export function loadConfig(
  source: Record<string, string | undefined>,
  roles: readonly Role[] = ['receiver', 'api', 'worker'],
): Config {
  const input: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = envSchema.safeParse(input);
  const problems: { key: string; message: string }[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? '(environment)');
      const message =
        issue.code === 'invalid_type' && input[key] === undefined ? 'required' : issue.message;
      if (!problems.some((p) => p.key === key)) problems.push({ key, message });
    }
  }
  const required = new Set(roles.flatMap((role) => requiredByRole[role]));
  for (const key of required) {
    if (input[key] === undefined && !problems.some((p) => p.key === key)) {
      problems.push({
        key,
        message: `required by the ${roles.join(', ')} role${roles.length > 1 ? 's' : ''}`,
      });
    }
  }
  // Checked on the raw input rather than in the schema: zod skips refinements once any field
  // fails, and the error must name every bad key at once.
  if ((input.ADMIN_USER === undefined) !== (input.ADMIN_PASSWORD === undefined)) {
    const missing = input.ADMIN_USER === undefined ? 'ADMIN_USER' : 'ADMIN_PASSWORD';
    problems.push({ key: missing, message: 'set ADMIN_USER and ADMIN_PASSWORD together' });
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);

  const env = parsed.data;
  return {
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    host: env.HOST,
    receiverPort: env.RECEIVER_PORT,
    apiPort: env.API_PORT,
    publicUrl: env.PUBLIC_URL,
    apiPublicUrl: env.API_PUBLIC_URL,
    workerPort: env.WORKER_PORT,
    workerConcurrency: env.WORKER_CONCURRENCY,
    calendly: {
      apiUrl: env.CALENDLY_API_URL,
      authUrl: env.CALENDLY_AUTH_URL,
      clientId: env.CALENDLY_CLIENT_ID,
      clientSecret: env.CALENDLY_CLIENT_SECRET,
      webhookSigningKey: env.CALENDLY_WEBHOOK_SIGNING_KEY,
    },
    apiToken: env.API_TOKEN,
    admin:
      env.ADMIN_USER !== undefined && env.ADMIN_PASSWORD !== undefined
        ? { user: env.ADMIN_USER, password: env.ADMIN_PASSWORD, readOnly: env.ADMIN_READ_ONLY }
        : undefined,
    encryptionKeys: [
      ...(env.ENCRYPTION_KEY ? [env.ENCRYPTION_KEY] : []),
      ...env.ENCRYPTION_KEYS_PREVIOUS,
    ],
    webhookToleranceSeconds: env.WEBHOOK_TOLERANCE_SECONDS,
    hookGracePeriodMs: env.HOOK_GRACE_PERIOD,
    reconcileEveryMs: env.RECONCILE_EVERY,
    refreshBeforeExpiryMs: env.REFRESH_BEFORE_EXPIRY,
    backfill: {
      pastMs: env.BACKFILL_PAST,
      futureMs: env.BACKFILL_FUTURE,
      initialPastMs: env.INITIAL_BACKFILL_PAST,
      initialFutureMs: env.INITIAL_BACKFILL_FUTURE,
      everyMs: env.BACKFILL_EVERY,
    },
    log: { level: env.LOG_LEVEL, pretty: env.LOG_PRETTY },
  };
}

/**
 * For entry points: parses like loadConfig, but a bad environment prints the one message
 * naming every bad key and exits 1, instead of a stack trace.
 */
export function loadConfigOrExit(
  source: Record<string, string | undefined>,
  roles: readonly Role[],
  exit: (message: string) => never = (message) => {
    console.error(message);
    process.exit(1);
  },
): Config {
  try {
    return loadConfig(source, roles);
  } catch (error) {
    if (error instanceof ConfigError) exit(error.message);
    throw error;
  }
}
