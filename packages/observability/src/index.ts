export { type BasicCredentials, basicAuth } from './basic-auth.ts';
export { createLogger, type Logger, type LoggerOptions } from './logger.ts';
export {
  type AppWebhookOutcome,
  createMetrics,
  type DatabaseCounts,
  type JobOutcome,
  type LabeledCounter,
  type Metrics,
  type MetricsOptions,
  type ObservedQueue,
  type ReconcileAction,
  type TokenRefreshOutcome,
} from './metrics.ts';
export { metricsRoute } from './metrics-route.ts';
export { REDACTED, type RedactOptions, redactText, redactValue } from './redact.ts';
export { logRequests, type RequestLogOptions, requestIdFor, serverOptions } from './request-log.ts';
export { serializeError, withheldError } from './serialize-error.ts';
export { guardProcess, isLostConnection, onShutdown } from './shutdown.ts';
export { traceRequests } from './trace-requests.ts';
export {
  currentTraceContext,
  inSpan,
  type SpanHandle,
  type SpanOptions,
  type StartTracingOptions,
  startTracing,
  startTracingOrExit,
  TRACER_NAME,
  type TraceContext,
  type Tracing,
  type TracingSettings,
  TracingSettingsError,
  tracingActive,
  tracingSettings,
  withTraceContext,
} from './tracing.ts';
