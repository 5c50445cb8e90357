// The HTTP client of app webhook deliveries: POSTs over undici with no redirects followed, a
// 15 s limit on the whole exchange, and (unless private addresses are allowed) the SSRF guard
// applied to every address a connection is about to use, after DNS resolution, so a name that
// starts resolving to a private address is refused at the next connection.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { inSpan } from '@calhook/observability';
import { Agent, request } from 'undici';
import { hostOf, isForbiddenAddress } from './address-guard.ts';

/** How long one attempt may take, connection to last byte (API.md: 15 s). */
export const DELIVERY_TIMEOUT_MS = 15_000;

export type AttemptOutcome = 'success' | 'http_error' | 'timeout' | 'network_error' | 'refused';

export interface AttemptResult {
  outcome: AttemptOutcome;
  /** The HTTP status answered, if any. */
  status: number | null;
  /** Why there was no 2xx, without secrets or bodies. */
  error: string | null;
  durationMs: number;
}

export interface EndpointClient {
  post(url: string, headers: Record<string, string>, body: string): Promise<AttemptResult>;
  close(): Promise<void>;
}

class ForbiddenAddressError extends Error {
  override name = 'ForbiddenAddressError';
  readonly code = 'CALHOOK_FORBIDDEN_ADDRESS';
}

type LookupCallback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/** A `net.connect` lookup that refuses hosts resolving to any forbidden address. */
function guardedLookup(
  hostname: string,
  options: { all?: boolean; family?: number | string },
  callback: LookupCallback,
): void {
  dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => {
    if (error) return callback(error, []);
    if (addresses.length === 0 || addresses.some((a) => isForbiddenAddress(a.address))) {
      return callback(
        Object.assign(new ForbiddenAddressError('address not allowed'), {
          code: 'CALHOOK_FORBIDDEN_ADDRESS',
        }),
        [],
      );
    }
    if (options.all) return callback(null, addresses);
    const first = addresses[0] as LookupAddress;
    callback(null, first.address, first.family);
  });
}

function describe(error: unknown): { outcome: AttemptOutcome; error: string } {
  const seen = new Set<unknown>();
  for (let e: unknown = error; e && !seen.has(e); e = (e as { cause?: unknown }).cause) {
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    if (code === 'CALHOOK_FORBIDDEN_ADDRESS' || e instanceof ForbiddenAddressError) {
      return { outcome: 'refused', error: 'the host resolves to an address not allowed' };
    }
    if (
      name === 'TimeoutError' ||
      code === 'UND_ERR_HEADERS_TIMEOUT' ||
      code === 'UND_ERR_BODY_TIMEOUT' ||
      code === 'UND_ERR_CONNECT_TIMEOUT'
    ) {
      return { outcome: 'timeout', error: `no answer within ${DELIVERY_TIMEOUT_MS / 1000} s` };
    }
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) {
      return { outcome: 'network_error', error: `connection failed (${code})` };
    }
  }
  const code = (error as { code?: unknown }).code;
  return {
    outcome: 'network_error',
    error: typeof code === 'string' ? `request failed (${code})` : 'request failed',
  };
}

/**
 * A client for app webhook endpoints. `allowPrivate` turns the address guard off (development
 * and tests: endpoints on loopback). Connections are kept alive per origin.
 */
export function createEndpointClient(
  options: { allowPrivate: boolean; timeoutMs?: number; connections?: number } = {
    allowPrivate: false,
  },
): EndpointClient {
  const timeoutMs = options.timeoutMs ?? DELIVERY_TIMEOUT_MS;
  const agent = new Agent({
    connections: options.connections ?? 64,
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connect: {
      timeout: timeoutMs,
      ...(options.allowPrivate ? {} : { lookup: guardedLookup as never }),
    },
  });
  async function attempt(
    url: string,
    headers: Record<string, string>,
    body: string,
  ): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const target = new URL(url);
      // An address literal connects without a lookup: checked here instead.
      const host = hostOf(target);
      if (!options.allowPrivate && isIP(host) !== 0 && isForbiddenAddress(host)) {
        throw new ForbiddenAddressError('address not allowed');
      }
      const response = await request(target, {
        method: 'POST',
        dispatcher: agent,
        headers: { 'content-type': 'application/json', ...headers },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      // The answer's body means nothing to us: dropped without being read into memory.
      await response.body.dump({ limit: 64 * 1024 }).catch(() => {});
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      return {
        outcome: ok ? 'success' : 'http_error',
        status: response.statusCode,
        error: ok ? null : `answered ${response.statusCode}`,
        durationMs: elapsed(),
      };
    } catch (error) {
      return { ...describe(error), status: null, durationMs: elapsed() };
    }
  }

  return {
    post(url, headers, body) {
      // A client span in the trace of the job that delivers; the URL's path and query may
      // carry the app's secrets, so only its host is recorded.
      return inSpan('app webhook POST', { kind: 'client' }, async (span) => {
        const result = await attempt(url, headers, body);
        if (!span.recording) return result;
        span.setAttributes({
          'http.request.method': 'POST',
          'calhook.webhook.outcome': result.outcome,
          ...(URL.canParse(url) ? { 'server.address': new URL(url).hostname } : {}),
          ...(result.status === null ? {} : { 'http.response.status_code': result.status }),
        });
        if (result.outcome !== 'success') span.fail(result.error ?? result.outcome);
        return result;
      });
    },
    close: () => agent.close(),
  };
}
