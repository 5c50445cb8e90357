import { createHash } from 'node:crypto';
import { type CalendlyClient, createCalendlyClient } from '@calhook/calendly';
import type { Config } from '@calhook/config';
import { createSealer, type Sealer } from '@calhook/crypto';
import { type ConnectionView, connectionRepo, connectionViewOf, type Database } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import type { Queues } from '@calhook/queue';
import { createTokenService, type TokenService } from '@calhook/tokens';
import { createHookIds } from '@calhook/webhooks';
import { type ConnectInput, connect } from './connect.ts';
import type { ConnectionDeps, ReconcileObserver } from './deps.ts';
import { type CleanupPayload, cleanupRemote, disconnect } from './disconnect.ts';
import { createOauthFlow, type OauthFlow } from './oauth-flow.ts';
import {
  type ReconcileReason,
  type ReconcileResult,
  reconcile,
  reconcileAll,
  reconcileSweep,
  requestReconcile,
} from './reconcile.ts';
import { syncSubscription } from './subscription-sync.ts';
import { withUserLock } from './user-lock.ts';

/** The connection workflows, bound to their dependencies: what the api and worker call. */
export interface Connections {
  connect(
    userId: string,
    input: ConnectInput,
  ): Promise<{ connection: ConnectionView; created: boolean }>;
  disconnect(userId: string): Promise<{ found: boolean; remoteCleanupPending: boolean }>;
  status(userId: string): Promise<ConnectionView | null>;
  requestReconcile(
    userId: string,
    reason: Extract<ReconcileReason, 'requested' | 'command'>,
  ): Promise<{ jobId: string } | null>;
  /** The `reconcile-connection` job. */
  reconcile(connectionId: string, reason: ReconcileReason): Promise<ReconcileResult>;
  /** The `reconcile-all` job. */
  reconcileAll(): Promise<{ connections: number }>;
  /** The `reconcile-sweep` job: the runs due in the slice of the cycle ending at `slotEnd`. */
  reconcileSweep(slotEnd: Date): ReturnType<typeof reconcileSweep>;
  /** The `disconnect-cleanup` job. */
  cleanupRemote(payload: CleanupPayload): Promise<{ deleted: number; revoked: number }>;
  /** One subscription check under the user's lock, outside a reconcile run (operators, tests). */
  ensureSubscription(connectionId: string): ReturnType<typeof syncSubscription>;
}

export function bindConnections(deps: ConnectionDeps): Connections {
  return {
    connect: (userId, input) => connect(deps, userId, input),
    disconnect: (userId) => disconnect(deps, userId),
    async status(userId) {
      const row = await connectionRepo.findByUser(deps.db, userId);
      return row ? connectionViewOf(deps.db, row) : null;
    },
    requestReconcile: (userId, reason) => requestReconcile(deps, userId, reason),
    reconcile: (connectionId, reason) => reconcile(deps, connectionId, reason),
    reconcileAll: () => reconcileAll(deps),
    reconcileSweep: (slotEnd) => reconcileSweep(deps, deps.reconcileEveryMs, slotEnd),
    cleanupRemote: (payload) => cleanupRemote(deps, payload),
    async ensureSubscription(connectionId) {
      const row = await connectionRepo.findById(deps.db, connectionId);
      if (!row) throw new Error(`connection ${connectionId} does not exist`);
      return withUserLock(deps, row.userId, () => syncSubscription(deps, connectionId));
    },
  };
}

export interface ConnectionServices {
  calendly: CalendlyClient;
  sealer: Sealer;
  tokens: TokenService;
  connections: Connections;
  oauth: OauthFlow;
  close(): Promise<void>;
}

/** Everything that talks to Calendly for connections, built once per role from config. */
export function buildConnectionServices(input: {
  config: Config;
  db: Database;
  queues: Queues;
  logger: Logger;
  onRefresh?: Parameters<typeof createTokenService>[0]['onRefresh'];
  observer?: ReconcileObserver;
  /** Hook id minting; tests pass one to provoke a 409 on a known URL. */
  newHookId?: () => string;
  /**
   * A 429 (or a user's spent window) asking for a longer wait than this is not waited out in
   * the call but surfaced, so a job is delayed instead of holding its slot (the Calendly
   * client's 60 s by default).
   */
  rateLimitWaitMs?: number;
}): ConnectionServices {
  const { config, db, queues, logger } = input;
  const sealer = createSealer(config.encryptionKeys);
  const calendly = createCalendlyClient({
    apiUrl: config.calendly.apiUrl,
    authUrl: config.calendly.authUrl,
    clientId: config.calendly.clientId,
    clientSecret: config.calendly.clientSecret,
    logger: logger.child({ component: 'calendly' }),
    ...(input.rateLimitWaitMs === undefined ? {} : { maxRateLimitWaitMs: input.rateLimitWaitMs }),
  });
  const tokens = createTokenService({
    db,
    sealer,
    calendly,
    queues,
    refreshBeforeExpiryMs: config.refreshBeforeExpiryMs,
    logger: logger.child({ component: 'tokens' }),
    onRefresh: input.onRefresh,
  });
  const connections = bindConnections({
    db,
    sealer,
    calendly,
    tokens,
    queues,
    publicUrl: config.publicUrl,
    backfill: config.backfill,
    reconcileEveryMs: config.reconcileEveryMs,
    logger: logger.child({ component: 'connections' }),
    now: () => new Date(),
    newHookId: input.newHookId ?? createHookIds(config.encryptionKeys).mint,
    observer: input.observer,
  });
  const current = config.encryptionKeys[0];
  if (!current) throw new Error('ENCRYPTION_KEY is required');
  const oauth = createOauthFlow({
    db,
    sealer,
    calendly,
    connections,
    redirectUri: `${config.apiPublicUrl}/oauth/calendly/callback`,
    returnOrigins: config.oauthReturnOrigins,
    // A key of its own, derived from ENCRYPTION_KEY, so the state MAC never reuses the cipher key.
    stateKey: createHash('sha256').update('calhook oauth state\n').update(current).digest(),
    logger: logger.child({ component: 'oauth' }),
  });
  return {
    calendly,
    sealer,
    tokens,
    connections,
    oauth,
    async close() {
      await calendly.close();
    },
  };
}
