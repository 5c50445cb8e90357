// The hosted OAuth flow. The browser that comes back from Calendly is not trusted to say whose
// account it is: the callback only parks Calendly's code behind a one-time completion token,
// and the app backend, which knows its logged-in user, completes the flow for that user. A
// link started for one app user and opened by another person therefore connects nobody.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { type CalendlyClient, createPkcePair } from '@calhook/calendly';
import type { Sealer } from '@calhook/crypto';
import { type ConnectionView, type Database, oauthStateRepo } from '@calhook/db';
import type { Logger } from '@calhook/observability';
import { CalendlyRejectedError, ConnectInputError } from './errors.ts';
import { returnToProblem } from './return-to.ts';
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
  /** OAUTH_RETURN_ORIGINS; undefined: any https origin, or http on loopback. */
  returnOrigins?: readonly string[] | undefined;
  logger: Logger;
  /** How long a state may wait for Calendly's redirect (10 minutes). */
  ttlMs?: number;
  /** How long the app backend has to complete after the callback (10 minutes, a code's life). */
  completionTtlMs?: number;
  now?: () => Date;
}

export type CompletionResult =
  | { ok: true; connection: ConnectionView }
  | { ok: false; reason: 'user_mismatch' | 'completion_expired' }
  | { ok: false; reason: 'calendly_rejected'; detail: unknown };

export interface OauthFlow {
  /** Why `returnTo` may not be used (OAUTH_RETURN_ORIGINS), or null when it may. */
  returnToProblem(returnTo: string): string | null;
  /** Throws ConnectInputError (`body.returnTo`) for a returnTo that is not allowed. */
  authorizeUrl(userId: string, returnTo: string): Promise<{ url: string; expiresAt: Date }>;
  /**
   * Handles Calendly's redirect; connects nobody and exchanges nothing. Ends in a redirect to
   * the attempt's returnTo with `calendly=pending&completion=…` or `calendly=error&reason=…`,
   * except when the state names no attempt we made (then there is nowhere safe to send the
   * browser: `{ redirect: null }`).
   */
  callback(query: {
    code?: string;
    state?: string;
    error?: string;
  }): Promise<{ redirect: string | null; reason?: string }>;
  /**
   * The app backend presents the completion with its logged-in user. The completion is spent
   * by the first presentation, whatever its outcome; only when `userId` is the user the flow
   * was started for is the code exchanged and the connection made.
   */
  complete(userId: string, completion: string): Promise<CompletionResult>;
}

function withParams(base: string, params: Record<string, string>): string {
  const url = new URL(base);
  for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
  return url.toString();
}

/** Only the hash is stored: a read of the table cannot complete anyone's flow. */
const completionHash = (completion: string) =>
  createHash('sha256').update(completion).digest('base64url');

export function createOauthFlow(deps: OauthFlowDeps): OauthFlow {
  const ttlMs = deps.ttlMs ?? 10 * 60_000;
  const completionTtlMs = deps.completionTtlMs ?? 10 * 60_000;
  const now = deps.now ?? (() => new Date());
  const mac = (id: string, userId: string) =>
    createHmac('sha256', deps.stateKey).update(`${id}\n${userId}`).digest('base64url');
  const problemOf = (returnTo: string) => returnToProblem(returnTo, deps.returnOrigins);

  return {
    returnToProblem: problemOf,

    async authorizeUrl(userId, returnTo) {
      const problem = problemOf(returnTo);
      if (problem) throw new ConnectInputError('body.returnTo', problem);
      const id = randomBytes(18).toString('base64url');
      const { verifier, challenge } = createPkcePair();
      const expiresAt = new Date(now().getTime() + ttlMs);
      await oauthStateRepo.create(deps.db, {
        id,
        userId,
        returnTo,
        redirectUri: deps.redirectUri,
        codeVerifierEnc: deps.sealer.seal(verifier, { purpose: 'oauth_code_verifier', id }),
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
      const at = now();
      const spent = () => fail(attempt.expiresAt <= at ? 'state_expired' : 'state_used');
      // Consume exactly once: a replayed state finds used_at set and yields no completion.
      if (query.error || !query.code) {
        if (!(await oauthStateRepo.claim(deps.db, attempt.id, at))) return spent();
        if (!query.error) return fail('missing_code');
        return fail(query.error === 'access_denied' ? 'access_denied' : 'calendly_error');
      }
      const completion = randomBytes(32).toString('base64url');
      const claimed = await oauthStateRepo.claim(deps.db, attempt.id, at, {
        codeEnc: deps.sealer.seal(query.code, { purpose: 'oauth_code', id: attempt.id }),
        completionHash: completionHash(completion),
        completionExpiresAt: new Date(at.getTime() + completionTtlMs),
      });
      if (!claimed) return spent();
      return { redirect: withParams(claimed.returnTo, { calendly: 'pending', completion }) };
    },

    async complete(userId, completion) {
      const claimed = await oauthStateRepo.claimCompletion(
        deps.db,
        completionHash(completion),
        now(),
      );
      if (!claimed?.codeEnc) return { ok: false, reason: 'completion_expired' };
      try {
        if (claimed.userId !== userId) {
          // Whoever approved at Calendly is not the user the flow was for: the completion is
          // void, so retrying it with the right user cannot connect the wrong Calendly either.
          deps.logger.warn(
            { userId, flowUserId: claimed.userId },
            'hosted OAuth completion presented for another user; voided',
          );
          return { ok: false, reason: 'user_mismatch' };
        }
        const { connection } = await deps.connections.connect(userId, {
          kind: 'code',
          code: deps.sealer.open(claimed.codeEnc, { purpose: 'oauth_code', id: claimed.id }),
          redirectUri: claimed.redirectUri,
          codeVerifier: deps.sealer.open(claimed.codeVerifierEnc, {
            purpose: 'oauth_code_verifier',
            id: claimed.id,
          }),
        });
        return { ok: true, connection };
      } catch (error) {
        if (error instanceof CalendlyRejectedError) {
          deps.logger.warn({ userId, err: error }, 'hosted OAuth code refused by Calendly');
          return { ok: false, reason: 'calendly_rejected', detail: error.detail };
        }
        throw error;
      } finally {
        await oauthStateRepo.discardCode(deps.db, claimed.id);
      }
    },
  };
}
