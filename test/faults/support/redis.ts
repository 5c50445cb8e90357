// A Redis of the scenario's own that can be killed and started again on the same port and
// data directory, with the durability production must run with: AOF on, every write fsynced
// before Redis answers (appendfsync always), and noeviction.
import { type ChildProcess, spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { freePort } from '@calhook/testing';

export interface DurableRedis {
  url: string;
  port: number;
  dir: string;
  /** SIGKILL, as a crash would; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again from the same AOF; resolves once it answers PONG (data loaded). */
  start(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** One PING over a raw socket: true only for +PONG (not -LOADING while the AOF replays). */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1_000, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (chunk) => done(chunk.toString().startsWith('+PONG')));
  });
}

export async function startDurableRedis(dir: string): Promise<DurableRedis> {
  const port = await freePort();
  let child: ChildProcess | null = null;
  const redis: DurableRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    async start() {
      const started = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      );
      child = started;
      running.add(started);
      started.once('exit', () => running.delete(started));
      const deadline = Date.now() + 20_000;
      while (!(await ping(port))) {
        if (started.exitCode !== null)
          throw new Error(`redis-server exited with ${started.exitCode}`);
        if (Date.now() > deadline) throw new Error('redis-server did not answer PONG in 20 s');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    kill() {
      return new Promise((resolve) => {
        const current = child;
        if (!current || current.exitCode !== null || current.signalCode !== null) return resolve();
        current.once('exit', () => resolve());
        current.kill('SIGKILL');
      });
    },
  };
  await redis.start();
  return redis;
}
