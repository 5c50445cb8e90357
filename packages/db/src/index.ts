export {
  type CreateDatabaseOptions,
  createDatabase,
  type Database,
  type DatabaseHandle,
  type Executor,
  type Tx,
} from './client.ts';
export { type ConnectionView, connectionView, connectionViewOf } from './connection-view.ts';
export { dropDatabase, ensureDatabase, migrateDatabase, migrationsFolder } from './migrate.ts';
export type { Change, FeedPage, NewChange, Position } from './repositories/changes.ts';
// Each table's owner: the only code that inserts into, updates or deletes from it.
export * as changeRepo from './repositories/changes.ts';
export type { CalendlyIdentity, SealedTokens } from './repositories/connections.ts';
export * as connectionRepo from './repositories/connections.ts';
export type { NewOauthAttempt, PendingCompletion } from './repositories/oauth-states.ts';
export * as oauthStateRepo from './repositories/oauth-states.ts';
export * as userLockRepo from './repositories/user-locks.ts';
export type { NewDelivery } from './repositories/webhook-deliveries.ts';
export * as deliveryRepo from './repositories/webhook-deliveries.ts';
export type { NewEndpoint } from './repositories/webhook-endpoints.ts';
export * as endpointRepo from './repositories/webhook-endpoints.ts';
export type { KnownHook, NewHook } from './repositories/webhook-hooks.ts';
export * as hookRepo from './repositories/webhook-hooks.ts';
export * from './schema/index.ts';
export type { Reseal, ResealCounts, SealedContext } from './sealed.ts';
export {
  lastSlotOf,
  SPREAD_POSITIONS,
  spreadOffsetMs,
  spreadPosition,
  spreadPositionSql,
  spreadRanges,
} from './spread.ts';
