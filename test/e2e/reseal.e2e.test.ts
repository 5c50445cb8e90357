// Proves `pnpm reseal` retires an old ENCRYPTION_KEY: tokens and hook signing keys stored in
// the legacy format (no binding to their row) or under the previous key are re-sealed by the
// real command, after which a sealer holding only the new key opens each of them for its own
// row, `--check` reports nothing left, and running it again changes nothing.
import { createCipheriv, randomBytes } from 'node:crypto';
import { testUrls, uniqueId } from '@calhook/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createSealer, keyIdOf } from '../../packages/crypto/src/index.ts';
import {
  connectionRepo,
  createDatabase,
  type DatabaseHandle,
  hookRepo,
  migrateDatabase,
} from '../../packages/db/src/index.ts';
import { dropDatabase } from '../../packages/db/src/migrate.ts';
import { runEntry } from './processes.ts';

// A database of its own: the command re-seals every row, and other tests' rows are sealed
// with keys this test does not hold.
let url: string;
let database: DatabaseHandle;
beforeAll(async () => {
  const own = new URL(testUrls().databaseUrl);
  own.pathname = `/${uniqueId('calhook_test_reseal_')}`;
  url = own.toString();
  await migrateDatabase(url);
  database = createDatabase(url, { max: 2 });
});
afterAll(async () => {
  await database?.close();
  await dropDatabase(url);
});

/** A value as calhook sealed it before values were bound to their row (format v1). */
function legacySeal(key: Buffer, plaintext: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return ['v1', keyIdOf(key), iv, cipher.getAuthTag(), body]
    .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
    .join('.');
}

it('re-seals legacy and old-key values so the old key can be retired', async () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);
  const old = createSealer([oldKey]);
  const at = new Date();

  // A connection whose tokens are legacy values, and a hook whose key is under the old key.
  const connection = await connectionRepo.connectUser(
    database.db,
    uniqueId('reseal'),
    {
      calendlyUserUri: `https://api.calendly.com/users/${uniqueId('U')}`,
      organizationUri: 'https://api.calendly.com/organizations/O1',
    },
    at,
  );
  await connectionRepo.writeTokens(
    database.db,
    connection.id,
    {
      accessTokenEnc: legacySeal(oldKey, 'access-one'),
      refreshTokenEnc: legacySeal(oldKey, 'refresh-one'),
      expiresAt: new Date(at.getTime() + 3_600_000),
    },
    at,
  );
  const hookId = uniqueId('hook').padEnd(22, 'x');
  await hookRepo.insert(database.db, {
    id: hookId,
    connectionId: connection.id,
    calendlyUserUri: 'https://api.calendly.com/users/U1',
    organizationUri: null,
    callbackUrl: `http://127.0.0.1:3000/webhooks/calendly/${hookId}`,
    events: ['invitee.created'],
    signingKeyEnc: old.seal('signing-key-one', { purpose: 'hook_signing_key', id: hookId }),
    replacesHookId: null,
  });

  const env = {
    PATH: process.env.PATH,
    DATABASE_URL: url,
    ENCRYPTION_KEY: newKey.toString('base64'),
    ENCRYPTION_KEYS_PREVIOUS: oldKey.toString('base64'),
  };
  const checked = runEntry('apps/worker/src/reseal-cli.ts', ['--check'], env);
  expect(checked).toMatch(/calhook: \d+ sealed values are not current/);
  expect(checked).toMatch(/access_token [1-9]/);
  expect(checked).toMatch(/hook_signing_key [1-9]/);

  expect(runEntry('apps/worker/src/reseal-cli.ts', [], env)).toMatch(/re-sealed [1-9]\d* values/);
  expect(runEntry('apps/worker/src/reseal-cli.ts', ['--check'], env)).toContain(
    '0 sealed values are not current',
  );
  expect(runEntry('apps/worker/src/reseal-cli.ts', [], env)).toContain('re-sealed 0 values');

  // The old key is gone: the new one alone opens every value, each only for its own row.
  const retired = createSealer([newKey]);
  const row = await connectionRepo.findById(database.db, connection.id);
  expect(retired.open(row!.accessTokenEnc!, { purpose: 'access_token', id: connection.id })).toBe(
    'access-one',
  );
  expect(retired.open(row!.refreshTokenEnc!, { purpose: 'refresh_token', id: connection.id })).toBe(
    'refresh-one',
  );
  expect(() =>
    retired.open(row!.accessTokenEnc!, { purpose: 'refresh_token', id: connection.id }),
  ).toThrow();
  const [hook] = (await hookRepo.allOf(database.db, connection.id)).filter((h) => h.id === hookId);
  expect(retired.open(hook!.signingKeyEnc!, { purpose: 'hook_signing_key', id: hookId })).toBe(
    'signing-key-one',
  );
});
