import { createHash, timingSafeEqual } from 'node:crypto';
import type { onRequestAsyncHookHandler } from 'fastify';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * An onRequest hook requiring `Authorization: Bearer $API_TOKEN`. Added straight to the /v1
 * scope (not wrapped in its own plugin, whose encapsulation would hide it from the routes).
 * Both sides are hashed first so the comparison is constant-time whatever the lengths.
 */
export function bearerAuth(token: string): onRequestAsyncHookHandler {
  const expected = digest(token);
  return async (request, reply) => {
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(header);
    if (!match?.[1] || !timingSafeEqual(digest(match[1].trim()), expected)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="calhook"')
        .send({ error: 'unauthorized', message: 'send Authorization: Bearer <API_TOKEN>' });
    }
  };
}
