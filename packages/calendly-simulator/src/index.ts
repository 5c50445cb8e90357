export type { CreateUserInput } from './accounts.ts';
export {
  type Booked,
  type BookInput,
  type CancelInput,
  createSimulatorControl,
  type DeliveryRecord,
  type Faults,
  type RequestCount,
  type SettleResult,
  type SimStateSnapshot,
  type SimSubscription,
  type SimUser,
  type SimulatorControl,
  SimulatorControlError,
  type TokenRequestRecord,
  type TokenSet,
} from './control-client.ts';
export { API_ORIGIN } from './ids.ts';
export type { SimulatorLogger, SimulatorOptions } from './options.ts';
export { signWebhook } from './signature.ts';
export { type Simulator, startSimulator } from './simulator.ts';
export { ALL_SCOPES, WEBHOOK_EVENTS } from './state.ts';
