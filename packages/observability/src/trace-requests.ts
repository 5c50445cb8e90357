// One server span per HTTP request of a Fastify app, named by its route
// (`POST /webhooks/calendly/:hookId`), ended when the answer has gone out, with its status.
// The route's handler runs inside the span, so whatever it starts (a job, a Calendly call, a
// transaction) joins the request's trace. Not installed at all while tracing is off.
import { context, type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { TRACER_NAME, tracingActive } from './tracing.ts';

/** Answered too often to be worth a trace each: health checks and scrapes. */
const UNTRACED = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * Adds the hooks to `app`; call it before any route is registered (Fastify wraps the routes
 * added after its `onRoute` hook).
 */
export function traceRequests(app: FastifyInstance): void {
  if (!tracingActive()) return;
  const tracer = trace.getTracer(TRACER_NAME);
  const spans = new WeakMap<FastifyRequest, Span>();

  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route === undefined || !UNTRACED.has(route)) {
      spans.set(
        request,
        tracer.startSpan(route ? `${request.method} ${route}` : request.method, {
          kind: SpanKind.SERVER,
          attributes: {
            'http.request.method': request.method,
            ...(route ? { 'http.route': route } : {}),
          },
        }),
      );
    }
    done();
  });

  app.addHook('onRoute', (route) => {
    const handler = route.handler as RouteHandlerMethod;
    route.handler = function traced(this: FastifyInstance, request, reply) {
      const span = spans.get(request);
      const run = () => handler.call(this, request, reply);
      return span ? context.with(trace.setSpan(context.active(), span), run) : run();
    };
  });

  const end = (request: FastifyRequest, reply: FastifyReply) => {
    const span = spans.get(request);
    if (!span) return;
    spans.delete(request);
    span.setAttribute('http.response.status_code', reply.statusCode);
    if (reply.statusCode >= 500) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${reply.statusCode}` });
    }
    span.end();
  };
  app.addHook('onResponse', (request, reply, done) => {
    end(request, reply);
    done();
  });
  // A client that hangs up before the answer still ends the span.
  app.addHook('onRequestAbort', (request, done) => {
    const span = spans.get(request);
    span?.setAttribute('calhook.aborted', true);
    span?.end();
    spans.delete(request);
    done();
  });
}
