// Proves that one signed delivery is one trace: the receiver's request span is its root, the
// job BullMQ carries is its child, and the worker's run of that job, the ingest batch and its
// Postgres transaction descend from it, across real Redis (also a Cluster) and Postgres with
// the real roles and a sharded event queue.
// Calendly calls (here the connect's, against the simulator) are client spans of the trace of
// the api request that made them.

import { startTracing, type Tracing } from '@calhook/observability';
import { eventually } from '@calhook/testing';
import { HOOK_ROUTE } from '@calhook/webhooks';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from './harness.ts';

const spans = new InMemorySpanExporter();
let tracing: Tracing;
let h: Harness;

beforeAll(async () => {
  // Started before the roles are built, as the entry points do.
  tracing = await startTracing({}, { serviceName: 'calhook-test', exporter: spans });
  // Two shards: the delivery goes through a shard's queue and worker, as a scaled setup runs.
  h = await startHarness({ env: { QUEUE_SHARDS: '2' } });
});

afterAll(async () => {
  await h?.close();
  await tracing?.shutdown();
});

const idOf = (span: ReadableSpan) => span.spanContext().spanId;
const traceOf = (span: ReadableSpan) => span.spanContext().traceId;

/** `span` and its parents up to the root, as recorded. */
function ancestry(span: ReadableSpan, all: ReadableSpan[]): ReadableSpan[] {
  const byId = new Map(all.map((s) => [idOf(s), s]));
  const chain = [span];
  for (let at = span; at.parentSpanContext; ) {
    const parent = byId.get(at.parentSpanContext.spanId);
    if (!parent) break;
    chain.push(parent);
    at = parent;
  }
  return chain;
}

describe('traces', () => {
  it('follows one delivery from the receiver through the queue into the worker and Postgres', async () => {
    const { user } = await h.connectNewUser();
    // The connect's Calendly calls are client spans in the trace of the api's request.
    const connect = spans.getFinishedSpans().find((s) => s.name === 'PUT /v1/connections/:userId');
    expect(connect?.kind).toBe(SpanKind.SERVER);
    const calendly = spans
      .getFinishedSpans()
      .filter((s) => s.kind === SpanKind.CLIENT && connect && traceOf(s) === traceOf(connect));
    expect(calendly.map((s) => s.attributes['url.path'])).toContain('/users/me');

    await h.sim.control.book(user.uri, { inviteeEmail: 'traced@example.com' });

    const receiverName = `POST ${HOOK_ROUTE}`;
    // Spans end in their own time (the add's producer span can end after the worker is done),
    // so wait until every span from the transaction up to the request has ended.
    const { request, chain } = await eventually(
      () => {
        const all = spans.getFinishedSpans();
        const request = all.find((s) => s.name === receiverName);
        const transaction =
          request &&
          all.find((s) => s.name === 'ingest transaction' && traceOf(s) === traceOf(request));
        const chain = transaction && ancestry(transaction, all);
        return request && chain?.at(-1) === request ? { request, chain } : undefined;
      },
      { what: "the delivery's spans from the receiver to the ingest", timeoutMs: 20_000 },
    );
    expect(request.kind).toBe(SpanKind.SERVER);
    expect(request.attributes['http.response.status_code']).toBe(200);
    expect(request.parentSpanContext).toBeUndefined();

    // From the transaction up: the worker's batch, BullMQ's consumer span (the job's run), its
    // producer span (the add) and the request that accepted the delivery, in one trace.
    expect(new Set(chain.map(traceOf))).toEqual(new Set([traceOf(request)]));
    const kinds = chain.map((s) => s.kind);
    const consumer = kinds.indexOf(SpanKind.CONSUMER);
    const producer = kinds.indexOf(SpanKind.PRODUCER);
    expect(consumer).toBeGreaterThan(0);
    expect(producer).toBeGreaterThan(consumer);
    expect(chain.map((s) => s.name)).toEqual([
      'ingest transaction',
      'ingest batch',
      chain[2]?.name,
      chain[3]?.name,
      'enqueue deliveries',
      receiverName,
    ]);
    expect(chain[2]?.attributes['bullmq.job.name']).toBe('ingest-deliveries');
    expect(chain[3]?.attributes['bullmq.job.name']).toBe('ingest-deliveries');
  });
});
