// The Calendly API v2 client: REST calls take the access token per call (connections own token
// lifecycle), OAuth calls use the app's client credentials.
import { Agent, type Dispatcher } from 'undici';
import type { z } from 'zod';
import { CalendlyError } from './errors.ts';
import {
  type Invitee,
  inviteeSchema,
  type ScheduledEvent,
  scheduledEventSchema,
} from './payloads.ts';
import { redactPath } from './redact.ts';
import { resourcePath, withQuery } from './resource-path.ts';
import {
  collectionPage,
  resourceEnvelope,
  type TokenSet,
  tokenResponseSchema,
  toTokenSet,
  type UserResource,
  userResourceSchema,
  type WebhookSubscriptionResource,
  webhookSubscriptionResourceSchema,
} from './resources.ts';
import type { RetryPolicy } from './retry-policy.ts';
import { type CalendlyLogger, createTransport, type HttpRequest } from './transport.ts';

export interface CalendlyClientOptions {
  /** `https://api.calendly.com`, or a stand-in. */
  apiUrl: string;
  /** `https://auth.calendly.com`, or a stand-in. */
  authUrl: string;
  /** Needed for the OAuth calls only. */
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  logger?: CalendlyLogger | undefined;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Time to the response headers. Default 30 s. */
  headersTimeoutMs?: number;
  /** Idle time between body chunks. Default 30 s. */
  bodyTimeoutMs?: number;
  /** A larger response body fails the call unread. Default MAX_RESPONSE_BYTES (4 MiB). */
  maxResponseBytes?: number;
  /** Retries of GET and DELETE after the first attempt. Default 3. */
  maxRetries?: number;
  /** First back-off step. Default 200 ms. */
  retryBaseMs?: number;
  /** Ceiling of one back-off step. Default 10 s. */
  maxRetryDelayMs?: number;
  /** A 429 asking to wait longer than this is surfaced as `rate_limited`. Default 60 s. */
  maxRateLimitWaitMs?: number;
  /** Page size for list calls. Default and most 100 (Calendly answers 400 above it). */
  pageSize?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  /** Use this dispatcher instead of an own keep-alive Agent (it is then not closed by `close`). */
  dispatcher?: Dispatcher;
  userAgent?: string;
}

export type WebhookScope = 'user' | 'organization' | 'group';

export interface CreateWebhookSubscriptionInput {
  url: string;
  events: string[];
  organization: string;
  scope: WebhookScope;
  /** Required for `scope: 'user'`; must be the token's own user. */
  user?: string;
  group?: string;
  /** Signs deliveries of subscriptions created with a personal access token. */
  signingKey?: string;
}

export interface ListWebhookSubscriptionsInput {
  organization: string;
  scope: WebhookScope;
  user?: string;
  group?: string;
}

/**
 * One item of a listing: parsed, or left out with the reason (Calendly sent it in a shape no
 * schema accepts). A bad item never ends the listing: the caller counts and skips it.
 */
export type Listed<T> = { ok: true; value: T } | { ok: false; reason: string; uri: string | null };

export interface ListScheduledEventsInput {
  /** Always pass it: organization-wide listings would import other hosts' meetings. */
  user: string;
  organization?: string;
  status?: 'active' | 'canceled';
  minStartTime?: Date | string;
  maxStartTime?: Date | string;
  /** Page size (at most 100). */
  count?: number;
}

export interface ListEventInviteesInput {
  status?: 'active' | 'canceled';
  /** Page size (max 100). */
  count?: number;
}

export interface AuthorizeUrlInput {
  redirectUri: string;
  state: string;
  codeChallenge: string;
}

export interface ExchangeCodeInput {
  code: string;
  redirectUri: string;
  codeVerifier?: string;
}

export interface CalendlyClient {
  getCurrentUser(accessToken: string): Promise<UserResource>;
  createWebhookSubscription(
    accessToken: string,
    input: CreateWebhookSubscriptionInput,
  ): Promise<WebhookSubscriptionResource>;
  /** Follows every page and returns them all. */
  listWebhookSubscriptions(
    accessToken: string,
    input: ListWebhookSubscriptionsInput,
  ): Promise<WebhookSubscriptionResource[]>;
  getWebhookSubscription(accessToken: string, uri: string): Promise<WebhookSubscriptionResource>;
  /** Resolves when the subscription is gone, including when it already was (404). */
  deleteWebhookSubscription(accessToken: string, uri: string): Promise<void>;
  /** Every matching event, oldest start first, fetched page by page as iterated. */
  listScheduledEvents(
    accessToken: string,
    input: ListScheduledEventsInput,
  ): AsyncIterable<Listed<ScheduledEvent>>;
  getScheduledEvent(accessToken: string, uri: string): Promise<ScheduledEvent>;
  /** Every invitee of the event, oldest first, fetched page by page as iterated. */
  listEventInvitees(
    accessToken: string,
    eventUri: string,
    input?: ListEventInviteesInput,
  ): AsyncIterable<Listed<Invitee>>;
  authorizeUrl(input: AuthorizeUrlInput): string;
  /**
   * Never retried: a code is single-use. A `network` error with `phase: 'unknown'` means the
   * code may have been spent.
   */
  exchangeCode(input: ExchangeCodeInput): Promise<TokenSet>;
  /**
   * Never retried: refresh tokens are single-use and rotate. A `network` error with
   * `phase: 'unknown'` means the old refresh token may already be consumed.
   */
  refreshToken(refreshToken: string): Promise<TokenSet>;
  revokeToken(token: string): Promise<void>;
  close(): Promise<void>;
}

const MAX_PAGES = 10_000;
/** Calendly's largest `count`: a bigger one is refused with 400. */
const MAX_PAGE_SIZE = 100;

function isoTime(value: Date | string | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

export function createCalendlyClient(options: CalendlyClientOptions): CalendlyClient {
  const ownAgent =
    options.dispatcher === undefined
      ? new Agent({
          connectTimeout: options.connectTimeoutMs ?? 10_000,
          headersTimeout: options.headersTimeoutMs ?? 30_000,
          bodyTimeout: options.bodyTimeoutMs ?? 30_000,
          keepAliveTimeout: 30_000,
        })
      : undefined;
  const dispatcher = options.dispatcher ?? (ownAgent as Agent);
  const now = options.now ?? Date.now;
  const policy: RetryPolicy = {
    maxRetries: options.maxRetries ?? 3,
    baseMs: options.retryBaseMs ?? 200,
    maxDelayMs: options.maxRetryDelayMs ?? 10_000,
    maxRateLimitWaitMs: options.maxRateLimitWaitMs ?? 60_000,
  };
  const transport = createTransport({
    dispatcher,
    headersTimeoutMs: options.headersTimeoutMs ?? 30_000,
    bodyTimeoutMs: options.bodyTimeoutMs ?? 30_000,
    maxResponseBytes: options.maxResponseBytes,
    policy,
    sleep: options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms))),
    random: options.random ?? Math.random,
    now,
    logger: options.logger,
  });
  const pageSize = Math.min(MAX_PAGE_SIZE, options.pageSize ?? MAX_PAGE_SIZE);
  const userAgent = options.userAgent ?? 'calhook';

  function parse<T extends z.ZodType>(
    schema: T,
    body: unknown,
    request: Pick<HttpRequest, 'method' | 'path'>,
    status: number,
  ): z.infer<T> {
    const result = schema.safeParse(body);
    if (result.success) return result.data;
    const path = redactPath(request.path);
    const issues = result.error.issues.map((issue) => ({
      parameter: issue.path.join('.'),
      message: issue.message,
    }));
    const error = new CalendlyError({
      kind: 'invalid_response',
      method: request.method,
      path,
      status,
      details: issues,
      message: `Calendly ${request.method} ${path} answered ${status} with an unexpected body`,
    });
    options.logger?.warn(
      { method: request.method, path, status, kind: error.kind, issues },
      'Calendly response did not match the expected shape',
    );
    throw error;
  }

  async function api<T extends z.ZodType>(
    accessToken: string,
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    schema: T,
    json?: unknown,
  ): Promise<z.infer<T>> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${accessToken}`,
      accept: 'application/json',
      'user-agent': userAgent,
    };
    const request: HttpRequest = {
      endpoint: 'api',
      baseUrl: options.apiUrl,
      method,
      path,
      headers,
    };
    if (json !== undefined) {
      headers['content-type'] = 'application/json';
      request.body = JSON.stringify(json);
    }
    const response = await transport.send(request);
    return parse(schema, response.body, request, response.status);
  }

  async function* paginate<T extends z.ZodType>(
    accessToken: string,
    path: string,
    item: T,
  ): AsyncGenerator<Listed<z.infer<T>>> {
    const pageSchema = collectionPage();
    const seenTokens = new Set<string>();
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const body = await api(
        accessToken,
        'GET',
        withQuery(path, { page_token: pageToken }),
        pageSchema,
      );
      for (const entry of body.collection) yield parseItem(item, entry, path);
      const next = body.pagination?.next_page_token;
      // A repeated token would loop forever; treat it as the end.
      if (!next || seenTokens.has(next)) return;
      seenTokens.add(next);
      pageToken = next;
    }
  }

  function parseItem<T extends z.ZodType>(
    schema: T,
    entry: unknown,
    path: string,
  ): Listed<z.infer<T>> {
    const result = schema.safeParse(entry);
    if (result.success) return { ok: true, value: result.data };
    const raw = entry as { uri?: unknown } | null;
    const uri = typeof raw?.uri === 'string' ? raw.uri : null;
    const reason = result.error.issues
      .slice(0, 3)
      .map((issue) => `${issue.path.join('.') || '(item)'}: ${issue.message}`)
      .join('; ');
    options.logger?.warn(
      { path: redactPath(path), uri, reason },
      'Calendly listed an item in an unexpected shape; skipped',
    );
    return { ok: false, reason, uri };
  }

  function clientId(): string {
    if (!options.clientId) {
      throw new TypeError('Calendly client: clientId is required for OAuth calls');
    }
    return options.clientId;
  }

  function oauthHeaders(): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
      'user-agent': userAgent,
    };
    if (options.clientSecret) {
      // RFC 6749 §2.3.1: both parts are form-encoded before joining.
      const credentials = `${encodeURIComponent(clientId())}:${encodeURIComponent(options.clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`;
    }
    return headers;
  }

  async function tokenRequest(form: URLSearchParams): Promise<TokenSet> {
    // Public clients (no secret) identify themselves in the form instead of Basic auth.
    if (!options.clientSecret) form.set('client_id', clientId());
    const request: HttpRequest = {
      endpoint: 'oauth',
      baseUrl: options.authUrl,
      method: 'POST',
      path: '/oauth/token',
      headers: oauthHeaders(),
      body: form.toString(),
    };
    const response = await transport.send(request);
    const raw = parse(tokenResponseSchema, response.body, request, response.status);
    return toTokenSet(raw, now());
  }

  const subscriptionEnvelope = resourceEnvelope(webhookSubscriptionResourceSchema);
  const eventEnvelope = resourceEnvelope(scheduledEventSchema);

  return {
    async getCurrentUser(accessToken) {
      const body = await api(accessToken, 'GET', '/users/me', resourceEnvelope(userResourceSchema));
      return body.resource;
    },

    async createWebhookSubscription(accessToken, input) {
      const body = await api(accessToken, 'POST', '/webhook_subscriptions', subscriptionEnvelope, {
        url: input.url,
        events: input.events,
        organization: input.organization,
        scope: input.scope,
        user: input.user,
        group: input.group,
        signing_key: input.signingKey,
      });
      return body.resource;
    },

    async listWebhookSubscriptions(accessToken, input) {
      const path = withQuery('/webhook_subscriptions', {
        organization: input.organization,
        scope: input.scope,
        user: input.user,
        group: input.group,
        count: pageSize,
      });
      const all: WebhookSubscriptionResource[] = [];
      for await (const listed of paginate(accessToken, path, webhookSubscriptionResourceSchema)) {
        // A subscription we cannot read cannot be ours to keep or delete safely: left alone.
        if (listed.ok) all.push(listed.value);
      }
      return all;
    },

    async getWebhookSubscription(accessToken, uri) {
      const body = await api(accessToken, 'GET', resourcePath(uri), subscriptionEnvelope);
      return body.resource;
    },

    async deleteWebhookSubscription(accessToken, uri) {
      // 404: already deleted (possibly by our own earlier attempt whose answer was lost).
      const path = resourcePath(uri);
      const response = await transport.send({
        endpoint: 'api',
        baseUrl: options.apiUrl,
        method: 'DELETE',
        path,
        headers: {
          authorization: `Bearer ${accessToken}`,
          accept: 'application/json',
          'user-agent': userAgent,
        },
        alsoOk: [404],
      });
      if (response.status === 404) {
        options.logger?.debug?.(
          { method: 'DELETE', path: redactPath(path), status: 404 },
          'Calendly webhook subscription already gone',
        );
      }
    },

    listScheduledEvents(accessToken, input) {
      const path = withQuery('/scheduled_events', {
        user: input.user,
        organization: input.organization,
        status: input.status,
        min_start_time: isoTime(input.minStartTime),
        max_start_time: isoTime(input.maxStartTime),
        sort: 'start_time:asc',
        count: Math.min(MAX_PAGE_SIZE, input.count ?? pageSize),
      });
      return paginate(accessToken, path, scheduledEventSchema);
    },

    async getScheduledEvent(accessToken, uri) {
      const body = await api(accessToken, 'GET', resourcePath(uri), eventEnvelope);
      return body.resource;
    },

    listEventInvitees(accessToken, eventUri, input = {}) {
      // Invitees sort by creation time only (`created_at:asc|desc`), not by start time.
      const eventPath = resourcePath(eventUri).split('?')[0]!.replace(/\/+$/, '');
      const path = withQuery(`${eventPath}/invitees`, {
        status: input.status,
        sort: 'created_at:asc',
        count: Math.min(MAX_PAGE_SIZE, input.count ?? pageSize),
      });
      return paginate(accessToken, path, inviteeSchema);
    },

    authorizeUrl(input) {
      const base = options.authUrl.replace(/\/+$/, '');
      const params = new URLSearchParams({
        client_id: clientId(),
        response_type: 'code',
        redirect_uri: input.redirectUri,
        state: input.state,
        code_challenge: input.codeChallenge,
        code_challenge_method: 'S256',
      });
      return `${base}/oauth/authorize?${params.toString()}`;
    },

    exchangeCode(input) {
      const form = new URLSearchParams({
        grant_type: 'authorization_code',
        code: input.code,
        redirect_uri: input.redirectUri,
      });
      if (input.codeVerifier !== undefined) form.set('code_verifier', input.codeVerifier);
      return tokenRequest(form);
    },

    refreshToken(refreshToken) {
      return tokenRequest(
        new URLSearchParams({ grant_type: 'refresh_token', refresh_token: refreshToken }),
      );
    },

    async revokeToken(token) {
      // Calendly documents the client credentials in the form for this endpoint.
      const form = new URLSearchParams({ client_id: clientId(), token });
      if (options.clientSecret) form.set('client_secret', options.clientSecret);
      await transport.send({
        endpoint: 'oauth',
        baseUrl: options.authUrl,
        method: 'POST',
        path: '/oauth/revoke',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
          'user-agent': userAgent,
        },
        body: form.toString(),
      });
    },

    async close() {
      await ownAgent?.close();
    },
  };
}
