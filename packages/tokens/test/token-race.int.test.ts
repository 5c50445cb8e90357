// Proves single flight across processes: 20 callers in two processes refresh an expired token with exactly one request to Calendly.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { testUrls } from '@calhook/testing';
import { afterEach, expect, it } from 'vitest';
import {
  connectionState,
  refreshRequests,
  SIM_CLIENT,
  type TokenFixture,
  tokenFixture,
} from './token-fixture.ts';

let fixture: TokenFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

it('gives 20 concurrent callers in two processes the same new token from one refresh', async () => {
  const f = await tokenFixture();
  fixture = f;
  const { connectionId, user, accessToken } = await f.connect({
    lifetimeSeconds: 7200,
    expired: true,
  });
  const before = await connectionState(f, connectionId);

  const child = spawn(
    process.execPath,
    [fileURLToPath(new URL('./get-tokens-process.ts', import.meta.url))],
    {
      env: {
        ...process.env,
        DATABASE_URL: testUrls().databaseUrl,
        REDIS_URL: testUrls().redisUrl,
        QUEUE_PREFIX: f.prefix,
        SIM_URL: f.sim.url,
        SIM_CLIENT_ID: SIM_CLIENT.id,
        SIM_CLIENT_SECRET: SIM_CLIENT.secret,
        ENCRYPTION_KEY: f.encryptionKey.toString('base64'),
        CONNECTION_ID: connectionId,
        CALLERS: '10',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

  const ready = await lines.next();
  expect(ready.value, stderr).toBe('ready');
  child.stdin.write('go\n');
  const [ours, theirs] = await Promise.all([
    Promise.all(Array.from({ length: 10 }, () => f.tokens.getAccessToken(connectionId))),
    lines
      .next()
      .then((line) => JSON.parse(String(line.value)) as { tokens: string[]; errors: string[] }),
  ]);
  child.stdin.end();
  expect(await exited, stderr).toBe(0);

  expect(theirs.errors).toEqual([]);
  const all = [...ours, ...theirs.tokens];
  expect(all).toHaveLength(20);
  expect(new Set(all).size).toBe(1);
  expect(all[0]).not.toBe(accessToken);

  const requests = await refreshRequests(f.sim, user.uri);
  expect(requests.map((r) => r.outcome)).toEqual(['ok']);
  const after = await connectionState(f, connectionId);
  expect(after.status).toBe('active');
  expect(after.tokenVersion).toBe(before.tokenVersion + 1);
  await expect(f.calendly.getCurrentUser(all[0] as string)).resolves.toMatchObject({
    uri: user.uri,
  });
});
