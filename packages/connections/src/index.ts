export { type BackfillDeps, type BackfillReport, backfillConnection } from './backfill.ts';
export {
  type ConnectInput,
  type ConnectionService,
  type ConnectionServiceDeps,
  createConnectionService,
  type SubscriptionReport,
} from './connection-service.ts';
export { type ConnectionView, connectionView } from './connection-view.ts';
export { CalendlyRejectedError, CalendlyUnavailableError, ConnectInputError } from './errors.ts';
export { createOauthFlow, type OauthFlow, type OauthFlowDeps } from './oauth-flow.ts';
export { buildConnectionServices, type ConnectionServices } from './services.ts';
export {
  type DeleteReason,
  hookIdOf,
  type KnownHook,
  planSubscriptions,
  SUBSCRIPTION_EVENTS,
  type SubscriptionPlan,
} from './subscription-plan.ts';
