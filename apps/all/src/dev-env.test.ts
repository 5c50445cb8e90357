// Proves the development .env gets every secret calhook cannot default, once: an API token, an
// encryption key and a Bull Board login strong enough for the configuration, never replacing a
// value the developer set, and nothing at all in production.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@calhook/config';
import { afterEach, describe, expect, it } from 'vitest';
import { ensureDevSecrets } from './dev-env.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function envFile(content?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'calhook-dev-env-'));
  dirs.push(dir);
  const file = join(dir, '.env');
  if (content !== undefined) writeFileSync(file, content);
  return file;
}

/** The file as `node --env-file` would read it: KEY=value lines. */
function parse(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => line.split(/=(.*)/s).slice(0, 2) as [string, string]),
  );
}

describe('ensureDevSecrets', () => {
  it('writes a token, a key and an admin login a fresh clone can start with, once', () => {
    const file = envFile();
    const env: NodeJS.ProcessEnv = {};
    expect(ensureDevSecrets(file, env)).toEqual([
      'API_TOKEN',
      'ENCRYPTION_KEY',
      'ADMIN_USER',
      'ADMIN_PASSWORD',
    ]);
    const written = parse(file);
    expect(written).toEqual({
      API_TOKEN: env.API_TOKEN,
      ENCRYPTION_KEY: env.ENCRYPTION_KEY,
      ADMIN_USER: 'admin',
      ADMIN_PASSWORD: env.ADMIN_PASSWORD,
    });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const config = loadConfig(written, ['receiver', 'api', 'worker']);
    expect(config.admin).toEqual({
      user: 'admin',
      password: env.ADMIN_PASSWORD,
      readOnly: true,
    });

    const before = readFileSync(file, 'utf8');
    expect(ensureDevSecrets(file, {})).toEqual([]);
    expect(readFileSync(file, 'utf8')).toBe(before);
  });

  it('keeps what the developer set, in the file or the environment', () => {
    const file = envFile('LOG_PRETTY=true\nADMIN_USER=ops');
    const env: NodeJS.ProcessEnv = { API_TOKEN: 'a-token-of-my-own-choosing' };
    expect(ensureDevSecrets(file, env)).toEqual(['ENCRYPTION_KEY']);
    expect(env.API_TOKEN).toBe('a-token-of-my-own-choosing');
    expect(Object.keys(parse(file))).toEqual(['LOG_PRETTY', 'ADMIN_USER', 'ENCRYPTION_KEY']);

    const withPassword = envFile('ADMIN_PASSWORD=a-password-of-mine');
    expect(ensureDevSecrets(withPassword, {})).toEqual(['API_TOKEN', 'ENCRYPTION_KEY']);
  });

  it('writes nothing in production', () => {
    const file = envFile();
    expect(ensureDevSecrets(file, { NODE_ENV: 'production' })).toEqual([]);
    expect(() => readFileSync(file)).toThrow();
  });
});
