import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { originList } from './origin-list.ts';

/** Which process is starting: each role requires only the secrets it uses. */
export type Role = 'receiver' | 'api' | 'worker';

const allRoles: readonly Role[] = ['receiver', 'api', 'worker'];

const url = (fallback: string) =>
  z
    .url({ message: 'must be an absolute URL' })
    .default(fallback)
    .transform((value) => value.replace(/\/+$/, ''));

/**
 * Seed nodes of a Redis Cluster: comma-separated redis:// or rediss:// URLs. ioredis gives every
 * node the same credentials and TLS setting, so the seeds must agree on them; a Cluster has only
 * database 0.
 */
const clusterNodes = z
  .string()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined) return undefined;
    const seeds = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const problem = (message: string) => {
      ctx.addIssue({ code: 'custom', message });
      return z.NEVER;
    };
    if (seeds.length === 0) return problem('must name at least one redis:// or rediss:// URL');
    const parsed: URL[] = [];
    for (const seed of seeds) {
      let url: URL;
      try {
        url = new URL(seed);
      } catch {
        return problem('every seed must be an absolute redis:// or rediss:// URL');
      }
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
        return problem('every seed must be an absolute redis:// or rediss:// URL');
      }
      if (url.hostname === '') return problem('every seed must name a host');
      if (url.pathname !== '' && url.pathname !== '/' && url.pathname !== '/0') {
        return problem('a Redis Cluster has only database 0: leave the path out');
      }
      parsed.push(url);
    }
    const auth = (url: URL) => `${url.protocol}${url.username}:${url.password}`;
    if (new Set(parsed.map(auth)).size > 1) {
      return problem('every seed must use the same scheme and credentials (one Cluster)');
    }
    return seeds;
  });

/**
 * Most QUEUE_SHARDS: more shards than Cluster masters spread nothing further, and each costs
 * every worker process a blocking connection. Workers look this far for shards left behind
 * by a higher setting.
 */
export const MAX_QUEUE_SHARDS = 64;
const shardsMessage = `must be a whole number from 1 to ${MAX_QUEUE_SHARDS}`;

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

const stringbool = z.stringbool();

/**
 * A boolean by z.stringbool()'s words (true/false, 1/0, yes/no, on/off). A bad value is
 * reported as an ordinary issue: z.stringbool() marks its own issue `continue: false`, which
 * stops every cross-field rule below (even those with `when`), so the error would no longer
 * name every bad key.
 */
const flag = (fallback: boolean) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined) return fallback;
      const parsed = stringbool.safeParse(value);
      if (parsed.success) return parsed.data;
      ctx.addIssue({ code: 'custom', message: 'must be true or false (or 1/0, yes/no, on/off)' });
      return z.NEVER;
    });

const secret = (minLength = 1) =>
  z
    .string()
    .min(minLength, { message: `must be at least ${minLength} characters` })
    .optional();

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
const variables = z.object({
  // Postgres; the migrate command creates the database if it is missing.
  DATABASE_URL: url('postgres://postgres@127.0.0.1:5432/calhook'),
  // Redis for BullMQ. Production Redis must run with AOF and maxmemory-policy noeviction.
  REDIS_URL: url('redis://127.0.0.1:6379'),
  // Redis Cluster seed nodes; when set, every role runs on the Cluster and REDIS_URL is unused.
  REDIS_CLUSTER_NODES: clusterNodes,
  // BullMQ key prefix, so several deployments or test runs can share one Redis.
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_.{}-]+$/, 'letters, digits, _ . - { } only')
    .default('calhook'),
  // Event queues deliveries are spread over by connection; on a Cluster each has its own slot.
  QUEUE_SHARDS: z.coerce
    .number({ message: shardsMessage })
    .int({ message: shardsMessage })
    .min(1, { message: shardsMessage })
    .max(MAX_QUEUE_SHARDS, { message: shardsMessage })
    .default(1),
  // Interface every role listens on.
  HOST: z.string().min(1).default('127.0.0.1'),
  // Where Calendly's deliveries arrive.
  RECEIVER_PORT: port(3000),
  // Where the app backend, browsers (hosted OAuth) and operators reach the api role.
  API_PORT: port(3001),
  // Base URL Calendly reaches the receiver at; callback URLs are built from it.
  PUBLIC_URL: url('http://127.0.0.1:3000'),
  // Base URL browsers reach the api role at: the hosted OAuth flow's redirect URI is built from
  // it. Unset, it follows API_PORT (API.md).
  API_PUBLIC_URL: z
    .url({ message: 'must be an absolute URL' })
    .transform((value) => value.replace(/\/+$/, ''))
    .optional(),
  // Origins the hosted OAuth flow may send browsers back to: the callback is no open redirect.
  OAUTH_RETURN_ORIGINS: originList,
  // The worker's small HTTP server (/metrics, /healthz, /readyz).
  WORKER_PORT: port(3002),
  // Ingest jobs one worker process runs at once; its Postgres pool is sized to match.
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(5000).default(500),
  // Calendly, or a stand-in such as the simulator.
  CALENDLY_API_URL: url('https://api.calendly.com'),
  CALENDLY_AUTH_URL: url('https://auth.calendly.com'),
  // OAuth app credentials; needed to exchange codes and refresh tokens.
  CALENDLY_CLIENT_ID: secret(),
  CALENDLY_CLIENT_SECRET: secret(),
  // The OAuth app's webhook signing key, accepted for every hook.
  CALENDLY_WEBHOOK_SIGNING_KEY: secret(),
  // Bearer token the app backend sends to /v1/*.
  API_TOKEN: secret(16),
  // Basic auth for Bull Board at /admin/queues (and /metrics).
  ADMIN_USER: secret(),
  // Basic auth has no lockout, so length is the only defence against online guessing: 12 is
  // the floor OWASP ASVS 4 (2.1.1) sets for passwords, e.g. `openssl rand -base64 12`.
  ADMIN_PASSWORD: secret(12),
  // Bull Board without retry/promote/clean buttons unless an operator turns them on.
  ADMIN_READ_ONLY: flag(true),
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
  // Retry-After on the receiver's 503 when Redis cannot take a delivery (Calendly may keep its own back-off).
  WEBHOOK_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(3_600).default(5),
  // How long a replaced hook's URL and key stay accepted: deliveries already in flight.
  HOOK_GRACE_PERIOD: duration('1h', 0),
  // How often every connection is reconciled: each at a stable offset within it, so Calendly
  // sees a flat rate.
  RECONCILE_EVERY: duration('15m', 10_000),
  // Reconcile jobs one worker process runs at once: each waits on Calendly (one call in flight
  // at a time), so this bounds the process's reconcile calls in flight, sized for I/O, not CPU.
  RECONCILE_CONCURRENCY: z.coerce.number().int().min(1).max(1_000).default(96),
  // How long before expiry access tokens are refreshed.
  REFRESH_BEFORE_EXPIRY: duration('10m'),
  // Routine backfill window around now, and the wider one imported on first connect.
  BACKFILL_PAST: duration('7d', 0),
  BACKFILL_FUTURE: duration('60d', 0),
  INITIAL_BACKFILL_PAST: duration('90d', 0),
  INITIAL_BACKFILL_FUTURE: duration('180d', 0),
  // How often every connection is backfilled even when nothing looked wrong.
  BACKFILL_EVERY: duration('6h', 60_000),
  // How long changes stay in the feed; a cursor older than that answers 410.
  CHANGES_RETENTION: duration('30d', 60_000),
  // Let app webhook endpoints use http and loopback or private addresses (development, tests).
  WEBHOOK_ENDPOINTS_ALLOW_PRIVATE: flag(false),
  // pino level.
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Human-readable logs for development; JSON otherwise.
  LOG_PRETTY: flag(false),
});

type Variables = z.output<typeof variables>;
type Variable = keyof Variables;

const requiredByRole: Record<Role, Variable[]> = {
  receiver: ['ENCRYPTION_KEY'],
  worker: ['ENCRYPTION_KEY'],
  api: ['ENCRYPTION_KEY', 'API_TOKEN'],
};

/**
 * A cross-field rule. zod skips refinements once any key has failed; these rules read only
 * whether keys were given (a key that failed its own check still was), so `when` lets them run
 * regardless, and one error names every bad key at once.
 */
const rule = (check: (env: Variables, ctx: z.RefinementCtx<Variables>) => void) =>
  z.superRefine<Variables>(check, { when: () => true });

const given = (value: unknown) => value !== undefined;

/** Empty strings count as unset, as `KEY=` in a .env file or compose's `${KEY:-}` mean. */
function withoutEmpty(source: unknown): unknown {
  if (typeof source !== 'object' || source === null) return source;
  return Object.fromEntries(
    Object.entries(source).filter(([, value]) => value !== undefined && value !== ''),
  );
}

/**
 * The environment as the given roles need it, parsed into the Config every entry point passes
 * down. The only definition of a setting: Config is this schema's output.
 */
export function configSchema(roles: readonly Role[] = allRoles) {
  return z
    .preprocess(
      withoutEmpty,
      variables.check(
        rule((env, ctx) => {
          for (const key of new Set(roles.flatMap((role) => requiredByRole[role]))) {
            if (given(env[key])) continue;
            const by = roles.filter((role) => requiredByRole[role].includes(key));
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `required by the ${by.join(', ')} role${by.length > 1 ? 's' : ''}`,
            });
          }
        }),
        rule((env, ctx) => {
          if (given(env.ADMIN_USER) === given(env.ADMIN_PASSWORD)) return;
          ctx.addIssue({
            code: 'custom',
            path: [given(env.ADMIN_USER) ? 'ADMIN_PASSWORD' : 'ADMIN_USER'],
            message: 'set ADMIN_USER and ADMIN_PASSWORD together',
          });
        }),
        // On a Cluster calhook gives every queue a hash tag of its own; a tag in the prefix
        // would come first and put every queue back in one slot, on one node.
        rule((env, ctx) => {
          if (!given(env.REDIS_CLUSTER_NODES) || !/[{}]/.test(env.QUEUE_PREFIX ?? '')) return;
          ctx.addIssue({
            code: 'custom',
            path: ['QUEUE_PREFIX'],
            message:
              'must not contain { or } with REDIS_CLUSTER_NODES: calhook adds a hash tag per queue itself',
          });
        }),
        // An OAuth app's subscriptions are signed with the app's key: without it the receiver
        // would refuse every delivery while connections look healthy.
        rule((env, ctx) => {
          if (!given(env.CALENDLY_CLIENT_ID) || given(env.CALENDLY_WEBHOOK_SIGNING_KEY)) return;
          ctx.addIssue({
            code: 'custom',
            path: ['CALENDLY_WEBHOOK_SIGNING_KEY'],
            message:
              "required when CALENDLY_CLIENT_ID is set: Calendly signs an OAuth app's deliveries with the app's key",
          });
        }),
      ),
    )
    .transform((env) => ({
      databaseUrl: env.DATABASE_URL,
      /** Where BullMQ lives: a Redis Cluster (through its seed nodes) or a single Redis. */
      redis: env.REDIS_CLUSTER_NODES
        ? { kind: 'cluster' as const, nodes: env.REDIS_CLUSTER_NODES }
        : { kind: 'single' as const, url: env.REDIS_URL },
      queuePrefix: env.QUEUE_PREFIX,
      queueShards: env.QUEUE_SHARDS,
      host: env.HOST,
      receiverPort: env.RECEIVER_PORT,
      apiPort: env.API_PORT,
      publicUrl: env.PUBLIC_URL,
      apiPublicUrl: env.API_PUBLIC_URL ?? `http://127.0.0.1:${env.API_PORT}`,
      /** Allowed `returnTo` origins of hosted OAuth; undefined: https, or http on loopback. */
      oauthReturnOrigins: env.OAUTH_RETURN_ORIGINS,
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
      /** Unset when ADMIN_USER/ADMIN_PASSWORD are not configured: Bull Board is then off. */
      admin:
        env.ADMIN_USER !== undefined && env.ADMIN_PASSWORD !== undefined
          ? { user: env.ADMIN_USER, password: env.ADMIN_PASSWORD, readOnly: env.ADMIN_READ_ONLY }
          : undefined,
      /** Current key first, then earlier keys still accepted for reading. Empty if none is set. */
      encryptionKeys: [
        ...(env.ENCRYPTION_KEY ? [env.ENCRYPTION_KEY] : []),
        ...env.ENCRYPTION_KEYS_PREVIOUS,
      ],
      webhookToleranceSeconds: env.WEBHOOK_TOLERANCE_SECONDS,
      webhookRetryAfterSeconds: env.WEBHOOK_RETRY_AFTER_SECONDS,
      hookGracePeriodMs: env.HOOK_GRACE_PERIOD,
      reconcileEveryMs: env.RECONCILE_EVERY,
      reconcileConcurrency: env.RECONCILE_CONCURRENCY,
      refreshBeforeExpiryMs: env.REFRESH_BEFORE_EXPIRY,
      backfill: {
        pastMs: env.BACKFILL_PAST,
        futureMs: env.BACKFILL_FUTURE,
        initialPastMs: env.INITIAL_BACKFILL_PAST,
        initialFutureMs: env.INITIAL_BACKFILL_FUTURE,
        everyMs: env.BACKFILL_EVERY,
      },
      changesRetentionMs: env.CHANGES_RETENTION,
      webhookEndpoints: { allowPrivate: env.WEBHOOK_ENDPOINTS_ALLOW_PRIVATE },
      log: { level: env.LOG_LEVEL, pretty: env.LOG_PRETTY },
    }));
}

export type Config = z.output<ReturnType<typeof configSchema>>;

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

/**
 * Parses the environment once, at an entry point. Throws ConfigError naming every bad or
 * missing key for the given roles, each once, with zod's message (never the value).
 */
export function loadConfig(
  source: Record<string, string | undefined>,
  roles: readonly Role[] = allRoles,
): Config {
  const parsed = configSchema(roles).safeParse(source);
  if (parsed.success) return parsed.data;
  const problems: { key: string; message: string }[] = [];
  for (const issue of parsed.error.issues) {
    const key = String(issue.path[0] ?? '(environment)');
    if (!problems.some((p) => p.key === key)) problems.push({ key, message: issue.message });
  }
  throw new ConfigError(problems);
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
