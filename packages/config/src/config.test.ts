// Proves configuration is parsed once with explicit coercion and defaults from API.md, and
// that a bad environment fails with one message naming every bad key and no secret value.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';
import { parseDuration } from './duration.ts';

const key = Buffer.alloc(32, 7).toString('base64');
const valid = { API_TOKEN: 'a-long-enough-api-token', ENCRYPTION_KEY: key };

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

describe('loadConfig', () => {
  it('applies the defaults from API.md', () => {
    const config = loadConfig(valid);
    expect(config).toMatchObject({
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/calhook',
      redisUrl: 'redis://127.0.0.1:6379',
      queuePrefix: 'calhook',
      host: '127.0.0.1',
      receiverPort: 3000,
      apiPort: 3001,
      publicUrl: 'http://127.0.0.1:3000',
      calendly: { apiUrl: 'https://api.calendly.com', authUrl: 'https://auth.calendly.com' },
      webhookToleranceSeconds: 180,
      reconcileEveryMs: 15 * 60_000,
      refreshBeforeExpiryMs: 10 * 60_000,
      admin: undefined,
    });
    expect(config.encryptionKeys[0]?.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('coerces numbers, durations and URLs', () => {
    const config = loadConfig({
      ...valid,
      RECEIVER_PORT: '8080',
      WEBHOOK_TOLERANCE_SECONDS: '300',
      RECONCILE_EVERY: '2h',
      PUBLIC_URL: 'https://hooks.example.com/',
      ADMIN_USER: 'ops',
      ADMIN_PASSWORD: 'secret',
    });
    expect(config.receiverPort).toBe(8080);
    expect(config.webhookToleranceSeconds).toBe(300);
    expect(config.reconcileEveryMs).toBe(7_200_000);
    expect(config.publicUrl).toBe('https://hooks.example.com');
    expect(config.admin).toEqual({ user: 'ops', password: 'secret', readOnly: false });
  });

  it('names every bad key in one error', () => {
    const error = problemsOf({
      API_TOKEN: 'short',
      ENCRYPTION_KEY: 'bm90IDMyIGJ5dGVz',
      RECEIVER_PORT: 'eighty',
      PUBLIC_URL: 'not a url',
      RECONCILE_EVERY: 'often',
      ADMIN_USER: 'ops',
    });
    expect(error.problems.map((p) => p.key).sort()).toEqual(
      [
        'ADMIN_PASSWORD',
        'API_TOKEN',
        'ENCRYPTION_KEY',
        'PUBLIC_URL',
        'RECEIVER_PORT',
        'RECONCILE_EVERY',
      ].sort(),
    );
    expect(error.message).toMatch(/^Invalid configuration:\n/);
    expect(error.message).not.toContain('short');
    expect(error.message).not.toContain('bm90IDMyIGJ5dGVz');
  });

  it('requires only what the role uses', () => {
    expect(
      problemsOf({}, ['api'])
        .problems.map((p) => p.key)
        .sort(),
    ).toEqual(['API_TOKEN', 'ENCRYPTION_KEY']);
    expect(problemsOf({}, ['receiver']).problems.map((p) => p.key)).toEqual(['ENCRYPTION_KEY']);
    expect(loadConfig({}, []).encryptionKeys).toEqual([]);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ ...valid, QUEUE_PREFIX: '', CALENDLY_CLIENT_ID: '' }).queuePrefix).toBe(
      'calhook',
    );
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
