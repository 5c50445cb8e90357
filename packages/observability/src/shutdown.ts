import type { Logger } from 'pino';

/**
 * Runs `stop` once on the first SIGTERM or SIGINT (later ones are ignored), then exits 0 (1 if
 * stopping failed or took longer than `graceMs`). Entry points call this; packages never touch process signals.
 */
export function onShutdown(logger: Logger, stop: () => Promise<void>, graceMs = 30_000): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took too long, exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    stop().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  // `on`, not `once`: a second signal while stopping must not end the process half-way. Ctrl-C
  // under `npm start` sends two at once: the terminal's, and the one npm passes on.
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

// postgres.js's own codes for a dead socket, the socket's own errors when the server end
// resets it first (seen in CI: a backend terminated mid-batch surfaced as `read ECONNRESET`),
// and the SQLSTATEs Postgres sends as it drops a session: class 08 (connection exception) and
// 57P01–57P03 (terminated by an administrator, a crash or a restart).
const LOST_CONNECTION = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_DESTROYED',
  'CONNECTION_ENDED',
  'ECONNRESET',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
]);
export const isLostConnection = (code: string): boolean =>
  LOST_CONNECTION.has(code) || /^08[0-9A-Z]{3}$/.test(code);

/**
 * Keeps the process alive through one known failure and only that: when a Postgres connection
 * is cut in the middle of a transaction, postgres.js (3.4.9) rejects a query of its own that no
 * caller awaits, with its own code or with the SQLSTATE Postgres sent as it dropped the session. The job or request that used the connection fails on its own path and is
 * retried, so nothing is lost; crashing the whole worker over it would stall every other job
 * for the 30 s BullMQ takes to reclaim them. Any other unhandled rejection still ends the
 * process, as Node's default would.
 */
export function guardProcess(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    const code = (reason as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && isLostConnection(code)) {
      logger.warn({ err: reason }, 'database connection lost under a query nobody awaited');
      return;
    }
    logger.fatal({ err: reason }, 'unhandled rejection');
    logger.flush?.();
    process.exit(1);
  });
}
