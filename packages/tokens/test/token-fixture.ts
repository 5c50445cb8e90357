// Builds a TokenService against real Postgres, Redis and a Calendly simulator for one test, with
// its own queue prefix, and connects simulated users the way connect would leave them.
import { randomBytes } from 'node:crypto';
import {
  type CalendlyClient,
  type CalendlyClientOptions,
  createCalendlyClient,
  tokenResponseSchema,
  toTokenSet,
} from '@calhook/calendly';
import {
  type SimUser,
  type Simulator,
  type SimulatorOptions,
  startSimulator,
} from '@calhook/calendly-simulator';
import { createSealer, type Sealer } from '@calhook/crypto';
import { connections, type DatabaseHandle } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { createQueues, type Queues, type RedisConnection } from '@calhook/queue';
import { testDatabase, testRedis, uniqueId } from '@calhook/testing';
import {
  createTokenService,
  type RefreshOutcome,
  type TokenService,
  type TokenServiceDeps,
} from '../src/index.ts';

export const SIM_CLIENT = { id: 'sim-client-id', secret: 'sim-client-secret' };

export interface TokenFixture {
  sim: Simulator;
  handle: DatabaseHandle;
  redis: RedisConnection;
  queues: Queues;
  prefix: string;
  encryptionKey: Buffer;
  sealer: Sealer;
  calendly: CalendlyClient;
  tokens: TokenService;
  outcomes: RefreshOutcome[];
  /** A simulated user with OAuth tokens of `lifetimeSeconds`, stored on a new connection row. */
  connect(options: {
    lifetimeSeconds: number;
    /** Store an expiry already past, as if the token had expired. */
    expired?: boolean;
  }): Promise<{ connectionId: string; user: SimUser; accessToken: string }>;
  /** A connection holding the user's personal access token (no refresh token). */
  connectPersonal(): Promise<{ connectionId: string; user: SimUser }>;
  close(): Promise<void>;
}

export interface FixtureOptions {
  simulator?: SimulatorOptions;
  calendly?: Partial<CalendlyClientOptions>;
  service?: Partial<Omit<TokenServiceDeps, 'db' | 'sealer' | 'calendly' | 'queues' | 'logger'>>;
}

export async function tokenFixture(options: FixtureOptions = {}): Promise<TokenFixture> {
  const sim = await startSimulator({ tokenRequestsPerMinute: 10_000, ...options.simulator });
  const handle = testDatabase();
  const redis = testRedis();
  const prefix = uniqueId('tok');
  const queues = createQueues(redis, prefix);
  const encryptionKey = randomBytes(32);
  const sealer = createSealer([encryptionKey]);
  const calendly = createCalendlyClient({
    apiUrl: sim.url,
    authUrl: sim.url,
    clientId: SIM_CLIENT.id,
    clientSecret: SIM_CLIENT.secret,
    ...options.calendly,
  });
  const outcomes: RefreshOutcome[] = [];
  const tokens = createTokenService({
    db: handle.db,
    sealer,
    calendly,
    queues,
    refreshBeforeExpiryMs: 10 * 60_000,
    logger: createLogger({ level: 'silent' }),
    onRefresh: (outcome) => outcomes.push(outcome),
    ...options.service,
  });

  async function insertConnection(user: SimUser): Promise<string> {
    const [row] = await handle.db
      .insert(connections)
      .values({
        userId: uniqueId('user'),
        calendlyUserUri: user.uri,
        organizationUri: user.organizationUri,
      })
      .returning({ id: connections.id });
    if (!row) throw new Error('insert returned nothing');
    return row.id;
  }

  return {
    sim,
    handle,
    redis,
    queues,
    prefix,
    encryptionKey,
    sealer,
    calendly,
    tokens,
    outcomes,
    async connect({ lifetimeSeconds, expired = false }) {
      const user = await sim.control.createUser();
      const raw = await sim.control.issueTokens(user.uri, { lifetimeSeconds });
      const set = toTokenSet(tokenResponseSchema.parse(raw), Date.now());
      const connectionId = await insertConnection(user);
      await tokens.storeTokens(handle.db, connectionId, {
        accessToken: set.accessToken,
        refreshToken: set.refreshToken,
        expiresAt: expired ? new Date(Date.now() - 1_000) : set.expiresAt,
      });
      return { connectionId, user, accessToken: set.accessToken };
    },
    async connectPersonal() {
      const user = await sim.control.createUser();
      const connectionId = await insertConnection(user);
      await tokens.storeTokens(handle.db, connectionId, {
        accessToken: user.personalAccessToken,
        refreshToken: null,
        expiresAt: null,
      });
      return { connectionId, user };
    },
    async close() {
      await queues.close();
      await redis.quit();
      await calendly.close();
      await handle.close();
      await sim.close();
    },
  };
}

/** The connection's token bookkeeping, for assertions. */
export async function connectionState(fixture: TokenFixture, connectionId: string) {
  const row = await fixture.handle.db.query.connections.findFirst({
    where: (c, { eq }) => eq(c.id, connectionId),
  });
  if (!row) throw new Error(`no connection ${connectionId}`);
  return row;
}

/** Successful and failed refresh requests the simulator saw for one user. */
export async function refreshRequests(sim: Simulator, userUri: string) {
  const all = await sim.control.tokenRequests({ userUri });
  return all.filter((request) => request.grantType === 'refresh_token');
}
