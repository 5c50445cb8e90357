import { createHash, timingSafeEqual } from 'node:crypto';
import type { onRequestAsyncHookHandler } from 'fastify';

export interface BasicCredentials {
  user: string;
  password: string;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * An onRequest hook requiring HTTP basic auth. User and password are hashed before the
 * constant-time compare (so their lengths leak nothing) and both are always compared, so a
 * right user with a wrong password takes as long as a wrong user.
 */
export function basicAuth(
  credentials: BasicCredentials,
  realm = 'calhook',
): onRequestAsyncHookHandler {
  const user = digest(credentials.user);
  const password = digest(credentials.password);
  return async (request, reply) => {
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(request.headers.authorization ?? '');
    const decoded = match?.[1] ? Buffer.from(match[1], 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    const givenUser = colon === -1 ? '' : decoded.slice(0, colon);
    const givenPassword = colon === -1 ? '' : decoded.slice(colon + 1);
    const userOk = timingSafeEqual(digest(givenUser), user);
    const passwordOk = timingSafeEqual(digest(givenPassword), password);
    if (colon === -1 || !userOk || !passwordOk) {
      return reply
        .code(401)
        .header('www-authenticate', `Basic realm="${realm}"`)
        .send({ error: 'unauthorized', message: 'basic auth with ADMIN_USER and ADMIN_PASSWORD' });
    }
  };
}
