// OpenTelemetry traces: receiver → BullMQ → worker → Postgres and Calendly. Off unless the
// standard OTEL_* variables ask for it; then the SDK is loaded (never before) and registered
// globally, and the helpers below start spans. While it is off they call straight through:
// no span objects, no context switches, so the receiver pays nothing for tracing it does not do.
import {
  type Attributes,
  type Context,
  context,
  type Link,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { Sampler, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { withheldError } from './serialize-error.ts';

/** The instrumentation scope of every span calhook starts itself. */
export const TRACER_NAME = 'calhook';

/** The exporters OTEL_TRACES_EXPORTER may name; `none` turns tracing off. */
const EXPORTERS = ['otlp', 'console'] as const;
type ExporterName = (typeof EXPORTERS)[number];

/** The samplers OTEL_TRACES_SAMPLER may name (the spec's, without the vendor ones). */
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
type SamplerName = (typeof SAMPLERS)[number];

export interface TracingSettings {
  exporters: ExporterName[];
  /** Which traces are kept; `ratio` is OTEL_TRACES_SAMPLER_ARG for the ratio samplers. */
  sampler: { name: SamplerName; ratio: number };
}

export class TracingSettingsError extends Error {
  override name = 'TracingSettingsError';
}

type Env = Readonly<Record<string, string | undefined>>;

const set = (value: string | undefined): value is string =>
  value !== undefined && value.trim() !== '';

/**
 * Whether the OTEL_* variables ask for traces, and through which exporters; `null` when they
 * do not. Tracing is on when OTEL_TRACES_EXPORTER names an exporter, or when it is unset and
 * an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is given:
 * unlike the SDK's own default, nothing is sent to a collector nobody configured.
 * OTEL_SDK_DISABLED=true wins over both. Every bad value is named in one error.
 */
export function tracingSettings(env: Env): TracingSettings | null {
  const problems: string[] = [];
  const disabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase();
  if (set(disabled) && disabled !== 'true' && disabled !== 'false') {
    problems.push(`OTEL_SDK_DISABLED must be true or false, not "${env.OTEL_SDK_DISABLED}"`);
  }
  const named = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== '');
  for (const name of named) {
    if (name !== 'none' && !(EXPORTERS as readonly string[]).includes(name)) {
      problems.push(
        `OTEL_TRACES_EXPORTER names "${name}": calhook sends traces by otlp or console (or none)`,
      );
    }
  }
  const exporters = named.includes('none')
    ? []
    : named.length > 0
      ? [...new Set(named as ExporterName[])]
      : set(env.OTEL_EXPORTER_OTLP_ENDPOINT) || set(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
        ? (['otlp'] as ExporterName[])
        : [];
  if (exporters.includes('otlp')) {
    const protocol = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL;
    if (set(protocol) && protocol.trim() !== 'http/protobuf') {
      problems.push(
        `OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL is "${protocol}": calhook sends OTLP as http/protobuf`,
      );
    }
  }
  const samplerName =
    (env.OTEL_TRACES_SAMPLER ?? '').trim().toLowerCase() || 'parentbased_always_on';
  if (!(SAMPLERS as readonly string[]).includes(samplerName)) {
    problems.push(
      `OTEL_TRACES_SAMPLER must be one of ${SAMPLERS.join(', ')}, not "${samplerName}"`,
    );
  }
  const ratioText = env.OTEL_TRACES_SAMPLER_ARG;
  const ratio = set(ratioText) ? Number(ratioText) : 1;
  if (samplerName.endsWith('traceidratio') && !(ratio >= 0 && ratio <= 1)) {
    problems.push(`OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1, not "${ratioText}"`);
  }
  if (problems.length > 0) {
    throw new TracingSettingsError(`invalid OpenTelemetry settings:\n  ${problems.join('\n  ')}`);
  }
  if (disabled === 'true' || exporters.length === 0) return null;
  return { exporters, sampler: { name: samplerName as SamplerName, ratio } };
}

export interface Tracing {
  /** False when the OTEL_* variables left tracing off: then nothing was started. */
  readonly enabled: boolean;
  /** Sends the spans still buffered (before a process exits). */
  forceFlush(): Promise<void>;
  /** Flushes and stops exporting; the global tracer is a no-op again after it. */
  shutdown(): Promise<void>;
}

export interface StartTracingOptions {
  /** `service.name` unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) gives one. */
  serviceName: string;
  /**
   * Exports every span to this exporter as it ends, whatever the variables say (tests pass
   * an in-memory exporter).
   */
  exporter?: SpanExporter;
  /**
   * Told when spans could not be exported (the collector is down or refuses them), at most
   * once a minute; tracing never fails the work it traces.
   */
  onExportError?: (error: unknown, suppressed: number) => void;
}

/** An error reporter that speaks at most once a minute, counting what it kept quiet. */
function throttled(report: ((error: unknown, suppressed: number) => void) | undefined) {
  let last = Number.NEGATIVE_INFINITY;
  let suppressed = 0;
  return (error: unknown) => {
    const now = performance.now();
    if (now - last < 60_000) {
      suppressed += 1;
      return;
    }
    last = now;
    report?.(error, suppressed);
    suppressed = 0;
  };
}

let active = false;

/** Whether spans are being recorded in this process (`startTracing` turned tracing on). */
export function tracingActive(): boolean {
  return active;
}

const off: Tracing = {
  enabled: false,
  forceFlush: async () => {},
  shutdown: async () => {},
};

/**
 * Starts tracing for this process when `env` (the process's environment, given by the entry
 * point) asks for it, or when `options.exporter` is given; otherwise starts nothing and loads
 * no SDK. The SDK reads its own variables (OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME,
 * OTEL_RESOURCE_ATTRIBUTES). Call it once, before building anything that queues jobs.
 */
export async function startTracing(env: Env, options: StartTracingOptions): Promise<Tracing> {
  const settings = tracingSettings(env);
  if (!settings && !options.exporter) return off;
  if (active) throw new Error('tracing is already started in this process');

  const [{ AsyncLocalStorageContextManager }, core, resources, sdk] = await Promise.all([
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/sdk-trace'),
  ]);
  const processors: SpanProcessor[] = [];
  if (options.exporter) {
    processors.push(new sdk.SimpleSpanProcessor({ exporter: options.exporter }));
  }
  for (const name of options.exporter ? [] : (settings?.exporters ?? [])) {
    if (name === 'console') {
      processors.push(new sdk.SimpleSpanProcessor({ exporter: new sdk.ConsoleSpanExporter() }));
    } else {
      const { OTLPTraceExporter } = await import('@opentelemetry/exporter-trace-otlp-proto');
      processors.push(new sdk.BatchSpanProcessor({ exporter: new OTLPTraceExporter() }));
    }
  }
  const detected = resources.detectResources({
    detectors: [resources.envDetector, resources.serviceNameEnvDetector],
  });
  const sampler = samplerOf(sdk, settings?.sampler ?? { name: 'always_on', ratio: 1 });
  const provider = new sdk.TracerProvider({
    sampler,
    resource: resources
      .defaultResource()
      .merge(resources.resourceFromAttributes({ 'service.name': options.serviceName }))
      .merge(detected),
    spanProcessors: processors,
  });
  const exportFailed = throttled(options.onExportError);
  core.setGlobalErrorHandler(exportFailed);
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new core.W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  active = true;
  return {
    enabled: true,
    forceFlush: () => provider.forceFlush().catch(exportFailed),
    async shutdown() {
      active = false;
      await provider.shutdown().catch(exportFailed);
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

function samplerOf(
  sdk: typeof import('@opentelemetry/sdk-trace'),
  { name, ratio }: TracingSettings['sampler'],
): Sampler {
  const root = name.endsWith('always_off')
    ? new sdk.AlwaysOffSampler()
    : name.endsWith('traceidratio')
      ? new sdk.TraceIdRatioBasedSampler(ratio)
      : new sdk.AlwaysOnSampler();
  return name.startsWith('parentbased_') ? new sdk.ParentBasedSampler({ root }) : root;
}

/** `startTracing`, or the settings' error on stderr and exit 1 (entry points, like config). */
export async function startTracingOrExit(
  env: Env,
  options: StartTracingOptions,
  exit: (message: string) => never = (message) => {
    console.error(message);
    process.exit(1);
  },
): Promise<Tracing> {
  try {
    return await startTracing(env, options);
  } catch (error) {
    if (error instanceof TracingSettingsError) exit(error.message);
    throw error;
  }
}

/** Where a piece of work was asked for: kept to continue its trace later, elsewhere. */
export type TraceContext = Context;

/** The current trace context, to carry into work done later; undefined while tracing is off. */
export function currentTraceContext(): TraceContext | undefined {
  return active ? context.active() : undefined;
}

/** Runs `fn` in a context captured earlier (`currentTraceContext`), or as is without one. */
export function withTraceContext<T>(captured: TraceContext | undefined, fn: () => T): T {
  return captured && active ? context.with(captured, fn) : fn();
}

export interface SpanOptions {
  kind?: 'internal' | 'server' | 'client';
  attributes?: Attributes;
  /** Other work this span serves (the rest of a batch): linked, not parents. */
  linkTo?: readonly (TraceContext | undefined)[];
}

const KINDS = { internal: SpanKind.INTERNAL, server: SpanKind.SERVER, client: SpanKind.CLIENT };

/** What a span may set on itself while it runs; nothing is recorded while tracing is off. */
export interface SpanHandle {
  /** False while tracing is off: skip building attributes nobody records. */
  readonly recording: boolean;
  setAttributes(attributes: Attributes): void;
  /** Marks the span failed with a short reason (no request data: spans leave the process). */
  fail(reason: string): void;
}

const noSpan: SpanHandle = { recording: false, setAttributes: () => {}, fail: () => {} };

function handleOf(span: Span): SpanHandle {
  return {
    recording: span.isRecording(),
    setAttributes: (attributes) => span.setAttributes(attributes),
    fail: (reason) => span.setStatus({ code: SpanStatusCode.ERROR, message: reason }),
  };
}

/**
 * Runs `fn` in a new span, a child of the current one, ended when `fn` settles; a thrown error
 * marks it failed with the error's name and message, query parameters withheld. While tracing
 * is off it only calls `fn`.
 */
export async function inSpan<T>(
  name: string,
  options: SpanOptions,
  fn: (span: SpanHandle) => Promise<T>,
): Promise<T> {
  if (!active) return fn(noSpan);
  const links: Link[] = [];
  for (const linked of options.linkTo ?? []) {
    const spanContext = linked && trace.getSpanContext(linked);
    if (spanContext) links.push({ context: spanContext });
  }
  return trace
    .getTracer(TRACER_NAME)
    .startActiveSpan(
      name,
      { kind: KINDS[options.kind ?? 'internal'], attributes: options.attributes ?? {}, links },
      async (span) => {
        try {
          return await fn(handleOf(span));
        } catch (error) {
          const safe = withheldError(error);
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: safe instanceof Error ? `${safe.name}: ${safe.message}` : String(safe),
          });
          throw error;
        } finally {
          span.end();
        }
      },
    );
}
