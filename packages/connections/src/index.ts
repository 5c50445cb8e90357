export { type BackfillRun, backfill } from './backfill.ts';
export type { ConnectInput } from './connect.ts';
export type { BackfillSettings, ConnectionDeps, ReconcileObserver } from './deps.ts';
export type { CleanupPayload } from './disconnect.ts';
export { CalendlyRejectedError, CalendlyUnavailableError, ConnectInputError } from './errors.ts';
export {
  type CompletionResult,
  createOauthFlow,
  type OauthFlow,
  type OauthFlowDeps,
} from './oauth-flow.ts';
export {
  type BackfillDecision,
  backfillDecision,
  type ReconcileReason,
  type ReconcileResult,
  requestReconcile,
  requestReconcileAll,
  sweepSliceMs,
} from './reconcile.ts';
export {
  bindConnections,
  buildConnectionServices,
  type ConnectionServices,
  type Connections,
} from './services.ts';
export { planSubscriptions, type SubscriptionPlan } from './subscription-plan.ts';
