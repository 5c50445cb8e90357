import { createHash } from 'node:crypto';
import { type CalendlyClient, createCalendlyClient } from '@calhook/calendly';
import type { Config } from '@calhook/config';
import { createSealer, type Sealer } from '@calhook/crypto';
import { createDatabase, type Database } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import type { Queues } from '@calhook/queue';
import { createTokenService, type TokenService } from '@calhook/tokens';
import { type ConnectionService, createConnectionService } from './connection-service.ts';
import { createOauthFlow, type OauthFlow } from './oauth-flow.ts';

export interface ConnectionServices {
  calendly: CalendlyClient;
  sealer: Sealer;
  tokens: TokenService;
  connections: ConnectionService;
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
}): ConnectionServices {
  const { config, db, queues, logger } = input;
  const sealer = createSealer(config.encryptionKeys);
  const calendly = createCalendlyClient({
    apiUrl: config.calendly.apiUrl,
    authUrl: config.calendly.authUrl,
    clientId: config.calendly.clientId,
    clientSecret: config.calendly.clientSecret,
    logger: logger.child({ component: 'calendly' }),
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
  // Per-user locks are held on a pool of their own (see ConnectionServiceDeps.locks).
  const locks = createDatabase(config.databaseUrl, { max: 4, applicationName: 'calhook-locks' });
  const connections = createConnectionService({
    db,
    locks: locks.db,
    sealer,
    calendly,
    tokens,
    queues,
    publicUrl: config.publicUrl,
    logger: logger.child({ component: 'connections' }),
  });
  const current = config.encryptionKeys[0];
  if (!current) throw new Error('ENCRYPTION_KEY is required');
  const oauth = createOauthFlow({
    db,
    sealer,
    calendly,
    connections,
    redirectUri: `${config.apiPublicUrl}/oauth/calendly/callback`,
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
      await locks.close();
    },
  };
}
