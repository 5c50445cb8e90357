// Proves how the OTEL_* variables turn tracing on and off, that a bad value is named, and that
// with none of them set nothing is started: no tracer records, no context is propagated.
import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import {
  currentTraceContext,
  inSpan,
  startTracing,
  TracingSettingsError,
  tracingActive,
  tracingSettings,
  withTraceContext,
} from './tracing.ts';

const everyTrace = { name: 'parentbased_always_on', ratio: 1 };

describe('tracingSettings', () => {
  it('is off with no OTEL_* variable, or with only a service name', () => {
    expect(tracingSettings({})).toBeNull();
    expect(tracingSettings({ OTEL_SERVICE_NAME: 'calhook-eu' })).toBeNull();
  });

  it('sends OTLP when an endpoint is given, unless the exporter is none or the SDK disabled', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    expect(tracingSettings(endpoint)).toEqual({ exporters: ['otlp'], sampler: everyTrace });
    expect(
      tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }),
    ).toEqual({ exporters: ['otlp'], sampler: everyTrace });
    expect(tracingSettings({ ...endpoint, OTEL_TRACES_EXPORTER: 'none' })).toBeNull();
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'true' })).toBeNull();
    expect(tracingSettings({ ...endpoint, OTEL_SDK_DISABLED: 'false' })?.exporters).toEqual([
      'otlp',
    ]);
  });

  it('takes the exporters OTEL_TRACES_EXPORTER names', () => {
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'console' })?.exporters).toEqual(['console']);
    expect(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp, console' })?.exporters).toEqual([
      'otlp',
      'console',
    ]);
  });

  it('takes the sampler and its ratio', () => {
    expect(
      tracingSettings({
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.05',
      })?.sampler,
    ).toEqual({ name: 'parentbased_traceidratio', ratio: 0.05 });
  });

  it('names every bad value in one error', () => {
    const bad = () =>
      tracingSettings({
        OTEL_SDK_DISABLED: 'yes',
        OTEL_TRACES_EXPORTER: 'zipkin,otlp',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_TRACES_SAMPLER: 'traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '5',
      });
    expect(bad).toThrow(TracingSettingsError);
    expect(bad).toThrow(/OTEL_SDK_DISABLED[\s\S]*"zipkin"[\s\S]*"grpc"[\s\S]*SAMPLER_ARG[^\n]*"5"/);
  });
});

describe('startTracing with no OTEL_* variable', () => {
  it('starts nothing: spans do not record and no context travels', async () => {
    const tracing = await startTracing({}, { serviceName: 'calhook-test' });
    expect(tracing.enabled).toBe(false);
    expect(tracingActive()).toBe(false);

    const span = trace.getTracer('calhook').startSpan('probe');
    expect(span.isRecording()).toBe(false);
    span.end();
    const carrier: Record<string, string> = {};
    propagation.inject(trace.setSpan(ROOT_CONTEXT, span), carrier);
    expect(carrier).toEqual({});

    // The helpers call straight through, in no span of their own.
    expect(currentTraceContext()).toBeUndefined();
    const seen = await inSpan('work', {}, async () => trace.getSpan(context.active()));
    expect(seen).toBeUndefined();
    expect(withTraceContext(undefined, () => 42)).toBe(42);
    await tracing.shutdown();
  });
});
