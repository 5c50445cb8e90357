// Serialises work per key inside one process. Callers of one connection queue here instead of
// each holding a pooled database connection while they wait on the row's advisory lock, so 20
// callers of one connection use one pool connection, not 20.

export type KeyedMutex = <T>(key: string, fn: () => Promise<T>) => Promise<T>;

export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<void>>();
  return async (key, fn) => {
    const previous = tails.get(key) ?? Promise.resolve();
    const current = previous.then(fn);
    // The tail never rejects, so one failure does not poison the callers queued behind it.
    const tail = current.then(
      () => {},
      () => {},
    );
    tails.set(key, tail);
    try {
      return await current;
    } finally {
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
