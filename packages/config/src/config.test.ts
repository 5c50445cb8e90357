// Proves configuration is parsed once with explicit coercion and defaults from API.md, that the
// cross-field rules hold, and that a bad environment fails with one message naming every bad
// key (even when a rule and a field fail together) and no value.
import { describe, expect, expectTypeOf, it } from 'vitest';
import { type Config, ConfigError, loadConfig } from './config.ts';
import { parseDuration } from './duration.ts';

const key = Buffer.alloc(32, 7).toString('base64');
const valid = { API_TOKEN: 'a-long-enough-api-token', ENCRYPTION_KEY: key };
const adminPassword = 'twelve-chars';

function problemsOf(
  env: Record<string, string | undefined>,
  roles?: Parameters<typeof loadConfig>[1],
) {
  try {
    loadConfig(env, roles);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const keysOf = (error: ConfigError) => error.problems.map((p) => p.key).sort();

describe('loadConfig', () => {
  it('applies the defaults from API.md', () => {
    const config = loadConfig(valid);
    expect(config).toMatchObject({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/calhook',
      redis: { kind: 'single', url: 'redis://127.0.0.1:6379' },
      queuePrefix: 'calhook',
      queueShards: 1,
      host: '127.0.0.1',
      receiverPort: 3000,
      apiPort: 3001,
      publicUrl: 'http://127.0.0.1:3000',
      apiPublicUrl: 'http://127.0.0.1:3001',
      calendly: { apiUrl: 'https://api.calendly.com', authUrl: 'https://auth.calendly.com' },
      webhookToleranceSeconds: 180,
      webhookRetryAfterSeconds: 5,
      reconcileEveryMs: 15 * 60_000,
      reconcileConcurrency: 96,
      refreshBeforeExpiryMs: 10 * 60_000,
      admin: undefined,
      log: { level: 'info', pretty: false },
    });
    expect(config.encryptionKeys[0]?.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('keeps Bull Board read-only unless ADMIN_READ_ONLY turns it off', () => {
    const admin = { ...valid, ADMIN_USER: 'ops', ADMIN_PASSWORD: adminPassword };
    expect(loadConfig(admin).admin).toEqual({
      user: 'ops',
      password: adminPassword,
      readOnly: true,
    });
    expect(loadConfig({ ...admin, ADMIN_READ_ONLY: 'false' }).admin?.readOnly).toBe(false);
  });

  it('lets the api base URL follow API_PORT unless API_PUBLIC_URL is set', () => {
    expect(loadConfig({ ...valid, API_PORT: '8081' }).apiPublicUrl).toBe('http://127.0.0.1:8081');
    expect(
      loadConfig({ ...valid, API_PORT: '8081', API_PUBLIC_URL: 'https://api.example.com/' })
        .apiPublicUrl,
    ).toBe('https://api.example.com');
  });

  it('coerces numbers, durations, URLs and booleans', () => {
    const config = loadConfig({
      ...valid,
      RECEIVER_PORT: '8080',
      WEBHOOK_TOLERANCE_SECONDS: '300',
      WEBHOOK_RETRY_AFTER_SECONDS: '30',
      RECONCILE_EVERY: '2h',
      RECONCILE_CONCURRENCY: '128',
      PUBLIC_URL: 'https://hooks.example.com/',
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD: adminPassword,
      ADMIN_READ_ONLY: 'No',
      LOG_PRETTY: 'on',
    });
    expect(config.reconcileConcurrency).toBe(128);
    expect(config.receiverPort).toBe(8080);
    expect(config.webhookToleranceSeconds).toBe(300);
    expect(config.webhookRetryAfterSeconds).toBe(30);
    expect(config.reconcileEveryMs).toBe(7_200_000);
    expect(config.publicUrl).toBe('https://hooks.example.com');
    expect(config.admin).toEqual({ user: 'ops', password: adminPassword, readOnly: false });
    expect(config.log.pretty).toBe(true);
  });

  it('gives consumers the nested shape, typed from the schema', () => {
    expectTypeOf<Config['calendly']['webhookSigningKey']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<Config['admin']>().toEqualTypeOf<
      { user: string; password: string; readOnly: boolean } | undefined
    >();
    expectTypeOf<Config['backfill']['everyMs']>().toEqualTypeOf<number>();
    expectTypeOf<Config['encryptionKeys']>().toEqualTypeOf<Buffer[]>();
  });

  it('runs on a Redis Cluster through its seeds when REDIS_CLUSTER_NODES is set', () => {
    const config = loadConfig({
      ...valid,
      REDIS_URL: 'redis://ignored:6379',
      REDIS_CLUSTER_NODES:
        ' rediss://app:s%40cret@10.0.0.1:7000/ , rediss://app:s%40cret@10.0.0.2 ',
      QUEUE_SHARDS: '3',
    });
    expect(config.redis).toEqual({
      kind: 'cluster',
      nodes: ['rediss://app:s%40cret@10.0.0.1:7000/', 'rediss://app:s%40cret@10.0.0.2'],
    });
    expect(config.queueShards).toBe(3);
  });

  it('refuses bad Cluster seeds and shard counts, naming the key and never the value', () => {
    const bad: [Record<string, string>, string, RegExp][] = [
      [
        { REDIS_CLUSTER_NODES: 'http://10.0.0.1:7000' },
        'REDIS_CLUSTER_NODES',
        /redis:\/\/ or rediss:\/\//,
      ],
      [{ REDIS_CLUSTER_NODES: 'redis://a:1,nonsense' }, 'REDIS_CLUSTER_NODES', /absolute/],
      [{ REDIS_CLUSTER_NODES: ' , ' }, 'REDIS_CLUSTER_NODES', /at least one/],
      [{ REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000/2' }, 'REDIS_CLUSTER_NODES', /database 0/],
      [
        { REDIS_CLUSTER_NODES: 'redis://:one@10.0.0.1:7000,redis://:two@10.0.0.2:7000' },
        'REDIS_CLUSTER_NODES',
        /same scheme and credentials/,
      ],
      [{ QUEUE_SHARDS: '0' }, 'QUEUE_SHARDS', /whole number from 1 to 64/],
      [{ QUEUE_SHARDS: '2.5' }, 'QUEUE_SHARDS', /whole number/],
      [{ QUEUE_SHARDS: 'three' }, 'QUEUE_SHARDS', /whole number/],
      [{ QUEUE_SHARDS: '65' }, 'QUEUE_SHARDS', /whole number/],
      [
        { REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000', QUEUE_PREFIX: '{calhook}' },
        'QUEUE_PREFIX',
        /hash tag per queue/,
      ],
    ];
    for (const [env, key, message] of bad) {
      const error = problemsOf({ ...valid, ...env });
      expect(
        error.problems.map((p) => p.key),
        JSON.stringify(env),
      ).toEqual([key]);
      expect(error.problems[0]?.message).toMatch(message);
      expect(error.message).not.toContain('one@');
    }
    // A hash tag in the prefix is still fine on a single Redis (deployments that followed the
    // earlier advice keep their keys).
    expect(loadConfig({ ...valid, QUEUE_PREFIX: '{calhook}' }).queuePrefix).toBe('{calhook}');
  });

  it('names every bad key in one error', () => {
    const error = problemsOf({
      API_TOKEN: 'short',
      ENCRYPTION_KEY: 'bm90IDMyIGJ5dGVz',
      RECEIVER_PORT: 'eighty',
      PUBLIC_URL: 'not a url',
      RECONCILE_EVERY: 'often',
      RECONCILE_CONCURRENCY: '0',
      ADMIN_USER: 'ops',
      REDIS_CLUSTER_NODES: 'redis://:hunter2@10.0.0.1:7000,ftp://x',
      QUEUE_SHARDS: '0',
    });
    expect(keysOf(error)).toEqual(
      [
        'ADMIN_PASSWORD',
        'API_TOKEN',
        'ENCRYPTION_KEY',
        'PUBLIC_URL',
        'QUEUE_SHARDS',
        'RECEIVER_PORT',
        'RECONCILE_CONCURRENCY',
        'RECONCILE_EVERY',
        'REDIS_CLUSTER_NODES',
      ].sort(),
    );
    expect(error.message).toMatch(/^Invalid configuration:\n/);
    expect(error.message).not.toContain('short');
    expect(error.message).not.toContain('bm90IDMyIGJ5dGVz');
    expect(error.message).not.toContain('hunter2');
  });

  // zod skips a refinement once any key has failed, unless the refinement says `when`; and a bad
  // z.stringbool() value stops even those. Every cross-field rule must still be reported.
  it('reports the cross-field rules alongside keys that failed their own checks', () => {
    const error = problemsOf(
      {
        ADMIN_READ_ONLY: 'maybe',
        LOG_PRETTY: 'sometimes',
        WEBHOOK_RETRY_AFTER_SECONDS: '0',
        ADMIN_PASSWORD: 'too-short',
        CALENDLY_CLIENT_ID: 'client-id',
      },
      ['api'],
    );
    expect(keysOf(error)).toEqual(
      [
        'ADMIN_PASSWORD',
        'ADMIN_READ_ONLY',
        'ADMIN_USER',
        'API_TOKEN',
        'CALENDLY_WEBHOOK_SIGNING_KEY',
        'ENCRYPTION_KEY',
        'LOG_PRETTY',
        'WEBHOOK_RETRY_AFTER_SECONDS',
      ].sort(),
    );
    expect(error.message).not.toContain('maybe');
    expect(error.message).not.toContain('too-short');
    expect(error.message).not.toContain('client-id');
  });

  it('requires only what the role uses', () => {
    expect(keysOf(problemsOf({}, ['api']))).toEqual(['API_TOKEN', 'ENCRYPTION_KEY']);
    expect(problemsOf({}, ['api']).message).toContain('API_TOKEN: required by the api role');
    expect(problemsOf({}, ['receiver']).problems).toEqual([
      { key: 'ENCRYPTION_KEY', message: 'required by the receiver role' },
    ]);
    expect(problemsOf({}, ['receiver', 'worker']).problems).toEqual([
      { key: 'ENCRYPTION_KEY', message: 'required by the receiver, worker roles' },
    ]);
    expect(loadConfig({}, []).encryptionKeys).toEqual([]);
  });

  it('requires the app signing key whenever CALENDLY_CLIENT_ID is set, for every role', () => {
    for (const roles of [[], ['receiver'], ['api'], ['worker']] as const) {
      const error = problemsOf({ ...valid, CALENDLY_CLIENT_ID: 'client-id' }, roles);
      expect(error.problems).toEqual([
        {
          key: 'CALENDLY_WEBHOOK_SIGNING_KEY',
          message: expect.stringContaining('CALENDLY_CLIENT_ID'),
        },
      ]);
    }
    const config = loadConfig({
      ...valid,
      CALENDLY_CLIENT_ID: 'client-id',
      CALENDLY_WEBHOOK_SIGNING_KEY: 'app-key',
    });
    expect(config.calendly).toMatchObject({ clientId: 'client-id', webhookSigningKey: 'app-key' });
    // A personal-token deployment has no OAuth app, and an app key alone is accepted too.
    expect(loadConfig(valid).calendly.clientId).toBeUndefined();
    expect(loadConfig({ ...valid, CALENDLY_WEBHOOK_SIGNING_KEY: 'k' }).calendly.clientId).toBe(
      undefined,
    );
  });

  it('asks for an admin password of at least 12 characters, set with the user', () => {
    const admin = { ...valid, ADMIN_USER: 'ops' };
    expect(problemsOf({ ...admin, ADMIN_PASSWORD: 'eleven-char' }).problems).toEqual([
      { key: 'ADMIN_PASSWORD', message: 'must be at least 12 characters' },
    ]);
    expect(loadConfig({ ...admin, ADMIN_PASSWORD: adminPassword }).admin?.password).toBe(
      adminPassword,
    );
    expect(problemsOf({ ...valid, ADMIN_PASSWORD: adminPassword }).problems).toEqual([
      { key: 'ADMIN_USER', message: 'set ADMIN_USER and ADMIN_PASSWORD together' },
    ]);
  });

  it('treats empty strings as unset', () => {
    const config = loadConfig({
      ...valid,
      QUEUE_PREFIX: '',
      CALENDLY_CLIENT_ID: '',
      ADMIN_USER: '',
      ADMIN_PASSWORD: '',
      ADMIN_READ_ONLY: '',
    });
    expect(config.queuePrefix).toBe('calhook');
    expect(config.calendly.clientId).toBeUndefined();
    expect(config.admin).toBeUndefined();
  });

  it('keeps earlier encryption keys for reading during a rotation', () => {
    const old = Buffer.alloc(32, 1).toString('base64');
    const config = loadConfig({ ...valid, ENCRYPTION_KEYS_PREVIOUS: `${old}, ` });
    expect(config.encryptionKeys).toHaveLength(2);
    expect(problemsOf({ ...valid, ENCRYPTION_KEYS_PREVIOUS: 'abc' }).problems[0]?.key).toBe(
      'ENCRYPTION_KEYS_PREVIOUS',
    );
  });
});

describe('parseDuration', () => {
  it.each([
    ['15m', 900_000],
    ['90s', 90_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['250ms', 250],
    ['30', 30_000],
  ])('%s is %i ms', (text, ms) => expect(parseDuration(text)).toBe(ms));
  it.each(['', 'soon', '5 minutes', '-1m', '1w'])('rejects %j', (text) =>
    expect(parseDuration(text)).toBeNull(),
  );
});
