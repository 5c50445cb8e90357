import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type CalendlyClient, createPkcePair } from '@calhook/calendly';
import type { Sealer } from '@calhook/crypto';
import { type Database, oauthStateRepo } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import { CalendlyRejectedError, ConnectInputError } from './errors.ts';
import type { Connections } from './services.ts';

export interface OauthFlowDeps {
  db: Database;
  sealer: Sealer;
  calendly: CalendlyClient;
  connections: Pick<Connections, 'connect'>;
  /** Where Calendly sends the browser back: `${API_PUBLIC_URL}/oauth/calendly/callback`. */
  redirectUri: string;
  /** Key for the state's MAC (derived from ENCRYPTION_KEY by the caller). */
  stateKey: Buffer;
  logger: Logger;
  ttlMs?: number;
  now?: () => Date;
}

export interface OauthFlow {
  authorizeUrl(userId: string, returnTo: string): Promise<{ url: string; expiresAt: Date }>;
  /**
   * Handles Calendly's redirect. Always ends in a redirect to the attempt's returnTo with
   * `calendly=connected` or `calendly=error&reason=…`, except when the state names no attempt
   * we made (then there is nowhere safe to send the browser: `{ redirect: null }`).
   */
  callback(query: {
    code?: string;
    state?: string;
    error?: string;
  }): Promise<{ redirect: string | null; reason?: string }>;
}

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

export function createOauthFlow(deps: OauthFlowDeps): OauthFlow {
  const ttlMs = deps.ttlMs ?? 10 * 60_000;
  const now = deps.now ?? (() => new Date());
  const mac = (id: string, userId: string) =>
    createHmac('sha256', deps.stateKey).update(`${id}\n${userId}`).digest('base64url');

  return {
    async authorizeUrl(userId, returnTo) {
      const id = randomBytes(18).toString('base64url');
      const { verifier, challenge } = createPkcePair();
      const expiresAt = new Date(now().getTime() + ttlMs);
      await oauthStateRepo.create(deps.db, {
        id,
        userId,
        returnTo,
        redirectUri: deps.redirectUri,
        codeVerifierEnc: deps.sealer.seal(verifier),
        expiresAt,
      });
      await oauthStateRepo.pruneExpired(deps.db, new Date(now().getTime() - 86_400_000));
      const state = `${id}.${mac(id, userId)}`;
      return {
        url: deps.calendly.authorizeUrl({
          redirectUri: deps.redirectUri,
          state,
          codeChallenge: challenge,
        }),
        expiresAt,
      };
    },

    async callback(query) {
      const [id, signature] = (query.state ?? '').split('.');
      if (!id || !signature) return { redirect: null, reason: 'invalid_state' };
      const attempt = await oauthStateRepo.find(deps.db, id);
      if (!attempt) return { redirect: null, reason: 'invalid_state' };
      const fail = (reason: string) => ({
        redirect: withParams(attempt.returnTo, { calendly: 'error', reason }),
        reason,
      });

      const expected = Buffer.from(mac(attempt.id, attempt.userId));
      const given = Buffer.from(signature);
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        // Tampered: burn the attempt so the genuine state cannot be tried either.
        await oauthStateRepo.burn(deps.db, attempt.id, now());
        return fail('invalid_state');
      }
      // Consume exactly once: a replayed state finds used_at set and connects nothing.
      const claimed = await oauthStateRepo.claim(deps.db, attempt.id, now());
      if (!claimed) return fail(attempt.usedAt ? 'state_used' : 'state_expired');
      if (query.error)
        return fail(query.error === 'access_denied' ? 'access_denied' : 'calendly_error');
      if (!query.code) return fail('missing_code');

      try {
        await deps.connections.connect(claimed.userId, {
          kind: 'code',
          code: query.code,
          redirectUri: claimed.redirectUri,
          codeVerifier: deps.sealer.open(claimed.codeVerifierEnc),
        });
      } catch (error) {
        deps.logger.warn({ userId: claimed.userId, err: error }, 'hosted OAuth connect failed');
        if (error instanceof CalendlyRejectedError) return fail('calendly_rejected');
        if (error instanceof ConnectInputError) return fail('invalid_request');
        return fail('unavailable');
      }
      return { redirect: withParams(claimed.returnTo, { calendly: 'connected' }) };
    },
  };
}
