export {
  checkEndpointUrl,
  isForbiddenAddress,
  type Lookup,
  systemLookup,
  type UrlCheck,
} from './address-guard.ts';
export {
  createDeliverer,
  type Deliverer,
  type DeliveryDeps,
  DeliveryFailedError,
  type DeliveryResult,
  DISABLE_AFTER_MS,
  EndpointBusyError,
  type RunResult,
} from './deliver.ts';
export {
  type Dispatcher,
  type DispatcherDeps,
  dispatchEndpoint,
  startDispatcher,
} from './dispatcher.ts';
export {
  type AttemptOutcome,
  type AttemptResult,
  createEndpointClient,
  DELIVERY_TIMEOUT_MS,
  type EndpointClient,
} from './endpoint-client.ts';
export {
  createEndpointService,
  type DeliveryView,
  type EndpointService,
  type EndpointView,
  endpointView,
  type Refusal,
  ROTATION_OVERLAP_MS,
} from './endpoints.ts';
export type { AppWebhookObserver } from './observer.ts';
export { replayWebhooks } from './replay.ts';
export {
  newSecret,
  SECRET_PREFIX,
  type SignedMessage,
  secretKey,
  signatureHeader,
  webhookHeaders,
} from './signature.ts';
export { subscribes } from './subscription.ts';
