// Proves the process guard forgives only lost database connections: postgres.js's own codes
// and Postgres's connection-exception and shutdown SQLSTATEs, never an ordinary query error;
// and that a second signal during shutdown (Ctrl-C under npm sends two) lets it finish.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { isLostConnection } from './shutdown.ts';

describe('isLostConnection', () => {
  it.each([
    'CONNECTION_CLOSED',
    'CONNECTION_DESTROYED',
    'CONNECTION_ENDED',
    'ECONNRESET',
    'EPIPE',
    '57P01',
    '57P02',
    '57P03',
    '08006',
    '08003',
  ])('forgives %s', (code) => expect(isLostConnection(code)).toBe(true));
  it.each(['23505', '40001', '57014', 'ECONNREFUSED', '08', 'CONNECT_TIMEOUT', ''])(
    'does not forgive %s',
    (code) => expect(isLostConnection(code)).toBe(false),
  );
});

describe('onShutdown', () => {
  it('finishes stopping, exit 0, when a second signal arrives while it stops', async () => {
    const script = `
      import { onShutdown } from ${JSON.stringify(new URL('./shutdown.ts', import.meta.url).href)};
      import { createLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).href)};
      onShutdown(createLogger(), () => new Promise((resolve) => setTimeout(() => {
        console.log('drained');
        resolve();
      }, 300)));
      console.log('ready');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script]);
    let output = '';
    const seen = (text: string) =>
      new Promise<void>((resolve) => {
        const check = () => output.includes(text) && resolve();
        child.stdout.on('data', (chunk) => {
          output += chunk;
          check();
        });
        check();
      });
    const exited = once(child, 'exit');
    await seen('ready');
    child.kill('SIGINT');
    await seen('shutting down');
    child.kill('SIGINT');
    const [code, signal] = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(output).toContain('drained');
  });
});
