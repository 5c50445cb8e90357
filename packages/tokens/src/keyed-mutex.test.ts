// Proves the keyed mutex runs work of one key one at a time, other keys in parallel, and survives failures.
import { describe, expect, it } from 'vitest';
import { createKeyedMutex } from './keyed-mutex.ts';

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('createKeyedMutex', () => {
  it('runs one key one at a time, in order, and other keys alongside', async () => {
    const run = createKeyedMutex();
    const events: string[] = [];
    const gate = deferred();
    const first = run('a', async () => {
      events.push('a1 start');
      await gate.promise;
      events.push('a1 end');
    });
    const second = run('a', async () => {
      events.push('a2');
    });
    const other = run('b', async () => {
      events.push('b');
    });
    await other;
    expect(events).toEqual(['a1 start', 'b']);
    gate.resolve();
    await Promise.all([first, second]);
    expect(events).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });

  it('lets the next caller run after a failure, and returns each caller its own result', async () => {
    const run = createKeyedMutex();
    const failed = run('a', async () => {
      throw new Error('boom');
    });
    const next = run('a', async () => 42);
    await expect(failed).rejects.toThrow('boom');
    await expect(next).resolves.toBe(42);
  });
});
