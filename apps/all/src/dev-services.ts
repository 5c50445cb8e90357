// `npm start` and `npm run demo` on a laptop: when the Postgres or Redis the configuration
// names does not answer, and it was meant to run on this machine, start it in Docker (as the
// tests do through testcontainers), with its data in a named Docker volume so a restart finds
// it again. Without Docker, one message says the two ways out. Production never gets here.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

export interface DevServices {
  databaseUrl: string;
  redisUrl: string;
  /** One line per service started in Docker, for the log. */
  started: string[];
  /** Stops the containers this process started (their volumes stay). */
  stop(): Promise<void>;
}

/** Postgres or Redis cannot be had; the message is for the person at the terminal. */
export class DevServicesError extends Error {
  override name = 'DevServicesError';
}

interface Service {
  name: 'Postgres' | 'Redis';
  variable: 'DATABASE_URL' | 'REDIS_URL';
  url: string;
  defaultPort: number;
}

// The same images and Redis settings as docker-compose.yml: AOF on and noeviction, since a
// job Redis acknowledged must never be dropped.
const POSTGRES_IMAGE = 'postgres:16-alpine';
const REDIS_IMAGE = 'redis:7-alpine';
export const DEV_VOLUMES = { Postgres: 'calhook-dev-postgres', Redis: 'calhook-dev-redis' };

export async function ensureDevServices(
  urls: { databaseUrl: string; redisUrl: string },
  options: { probeTimeoutMs?: number; announce?: (line: string) => void } = {},
): Promise<DevServices> {
  const services: Service[] = [
    { name: 'Postgres', variable: 'DATABASE_URL', url: urls.databaseUrl, defaultPort: 5432 },
    { name: 'Redis', variable: 'REDIS_URL', url: urls.redisUrl, defaultPort: 6379 },
  ];
  const answers = await Promise.all(
    services.map((service) => isAnswering(service, options.probeTimeoutMs ?? 1_500)),
  );
  const missing = services.filter((_, index) => !answers[index]);
  const result: DevServices = { ...urls, started: [], stop: async () => {} };
  if (missing.length === 0) return result;

  const remote = missing.filter((service) => !isLoopback(hostOf(service.url)));
  if (remote.length > 0) {
    // A container on this machine cannot stand in for a server configured elsewhere.
    throw new DevServicesError(
      `calhook: ${listed(remote)} ${remote.length > 1 ? 'do' : 'does'} not answer. ` +
        `Start ${remote.length > 1 ? 'them' : 'it'}, or set ${remote.map((s) => s.variable).join(' and ')} to one that runs.`,
    );
  }
  const docker = await loadDocker();
  if (!docker) {
    throw new DevServicesError(
      [
        `calhook: ${listed(missing)} ${missing.length > 1 ? 'do' : 'does'} not answer, and no Docker engine answers either.`,
        'Two ways out:',
        `  1. Run ${missing.map((s) => s.name).join(' and ')} yourself at ${missing.length > 1 ? 'those addresses' : 'that address'}, ` +
          `or set ${missing.map((s) => s.variable).join(' and ')} to where yours run${missing.length > 1 ? '' : 's'}; then start again.`,
        `  2. Install and start Docker (https://docs.docker.com/get-docker/): calhook then runs ${missing.length > 1 ? 'them in containers' : 'it in a container'}, ` +
          'with the data in Docker volumes that outlive restarts.',
      ].join('\n'),
    );
  }

  options.announce?.(
    `${listed(missing)}: not answering; starting ${missing.length > 1 ? 'them' : 'it'} in Docker ` +
      '(the first time pulls the images)',
  );
  const containers: { stop(options: { timeout: number }): Promise<unknown> }[] = [];
  const stop = async () => {
    // Postgres and Redis get time to shut down cleanly (Redis flushes its AOF on SIGTERM).
    await Promise.all(containers.splice(0).map((c) => c.stop({ timeout: 10_000 })));
  };
  const outcomes = await Promise.allSettled(
    missing.map(async (service) => {
      const started =
        service.name === 'Postgres'
          ? await startPostgres(docker, service.url)
          : await startRedis(docker, service.url);
      containers.push(started.container);
      if (service.name === 'Postgres') result.databaseUrl = started.url;
      else result.redisUrl = started.url;
      result.started.push(
        `${service.name} at ${hostAndPort(service)} does not answer: running ${started.image} ` +
          `in Docker at ${started.address}, data in Docker volume ${DEV_VOLUMES[service.name]}`,
      );
    }),
  );
  const failed = outcomes.find((outcome) => outcome.status === 'rejected');
  if (failed) {
    // Both attempts are over: whatever did start is stopped, none is left behind.
    await stop().catch(() => {});
    const reason = failed.reason instanceof Error ? failed.reason.message : String(failed.reason);
    throw new DevServicesError(
      `calhook: ${listed(missing)} ${missing.length > 1 ? 'do' : 'does'} not answer, and ` +
        `starting ${missing.length > 1 ? 'them' : 'it'} in Docker failed: ${reason}`,
    );
  }
  result.stop = stop;
  return result;
}

type Docker = typeof import('testcontainers');

/** testcontainers when a container engine answers (it is a development dependency only). */
async function loadDocker(): Promise<Docker | undefined> {
  try {
    const docker = await import('testcontainers');
    await docker.getContainerRuntimeClient();
    return docker;
  } catch {
    return undefined;
  }
}

async function startPostgres(docker: Docker, configured: string) {
  // A new password every start: the mapped port may be reachable from the network, and the
  // volume keeps the first start's password, so this start sets its own over a local socket.
  const password = randomBytes(18).toString('base64url');
  const container = await new docker.GenericContainer(POSTGRES_IMAGE)
    .withEnvironment({ POSTGRES_PASSWORD: password })
    .withExposedPorts(5432)
    // A bind source that is a name, not a path, is a named volume to Docker.
    .withBindMounts([{ source: DEV_VOLUMES.Postgres, target: '/var/lib/postgresql/data' }])
    // Over TCP, so the temporary server of a first start (socket only) does not count as ready.
    .withHealthCheck({
      test: ['CMD-SHELL', 'pg_isready --host 127.0.0.1 --username postgres'],
      interval: 250,
      timeout: 1_000,
      retries: 1_000,
    })
    .withWaitStrategy(docker.Wait.forHealthCheck())
    .withStartupTimeout(120_000)
    .start();
  const altered = await container.exec([
    'psql',
    '--username=postgres',
    '--dbname=postgres',
    `--command=ALTER USER postgres PASSWORD '${password}'`,
  ]);
  if (altered.exitCode !== 0) {
    await container.stop();
    // psql's output may quote the statement, password and all: the exit code only.
    throw new Error(
      `could not set the Postgres password in Docker (psql exited ${altered.exitCode})`,
    );
  }
  const url = new URL(configured);
  url.username = 'postgres';
  url.password = password;
  url.hostname = container.getHost();
  url.port = String(container.getMappedPort(5432));
  return { container, url: url.toString(), image: POSTGRES_IMAGE, address: url.host };
}

async function startRedis(docker: Docker, configured: string) {
  const password = randomBytes(18).toString('base64url');
  const container = await new docker.GenericContainer(REDIS_IMAGE)
    .withCommand([
      'redis-server',
      '--appendonly',
      'yes',
      '--appendfsync',
      'everysec',
      '--maxmemory-policy',
      'noeviction',
      '--requirepass',
      password,
    ])
    .withExposedPorts(6379)
    .withBindMounts([{ source: DEV_VOLUMES.Redis, target: '/data' }])
    .withWaitStrategy(docker.Wait.forLogMessage('Ready to accept connections'))
    .withStartupTimeout(120_000)
    .start();
  const url = new URL(configured);
  url.protocol = 'redis:';
  url.username = '';
  url.password = password;
  url.hostname = container.getHost();
  url.port = String(container.getMappedPort(6379));
  return { container, url: url.toString(), image: REDIS_IMAGE, address: url.host };
}

function isAnswering(service: Service, timeoutMs: number): Promise<boolean> {
  const host = hostOf(service.url);
  // Postgres through a Unix socket (`?host=/path`) cannot be probed here; postgres.js decides.
  if (host === '') return Promise.resolve(true);
  const port = Number(new URL(service.url).port || service.defaultPort);
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(timeoutMs);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

function hostOf(url: string): string {
  return new URL(url).hostname.replace(/^\[(.*)\]$/, '$1');
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Where a service was looked for, without credentials. */
function hostAndPort(service: Service): string {
  const url = new URL(service.url);
  return `${url.hostname}:${url.port || service.defaultPort}`;
}

function listed(services: Service[]): string {
  return services
    .map((service) => `${service.name} at ${hostAndPort(service)} (${service.variable})`)
    .join(' and ');
}
