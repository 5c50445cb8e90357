export type { CreateUserInput } from './accounts.ts';
export {
  type Booked,
  type BookInput,
  type BulkUsers,
  type BulkUsersInput,
  type CancelInput,
  createSimulatorControl,
  type DeliveryRecord,
  type Faults,
  type Latency,
  type Plans,
  type RequestCount,
  type SettleResult,
  type SimStateSnapshot,
  type SimSubscription,
  type SimUser,
  type SimUserState,
  type SimulatorControl,
  SimulatorControlError,
  type TokenRequestRecord,
  type TokenSet,
} from './control-client.ts';
export { API_ORIGIN } from './ids.ts';
export type { SigningKeyPolicy, SimulatorLogger, SimulatorOptions } from './options.ts';
export { signWebhook } from './signature.ts';
export { type Simulator, startSimulator } from './simulator.ts';
export { ALL_SCOPES, WEBHOOK_EVENTS } from './state.ts';
