// Where the hosted OAuth callback may send a browser. The callback takes no bearer token, so
// without this check it would redirect anyone anywhere with calhook's domain in the link.

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/**
 * Why `returnTo` may not be used, or null when it may. With `allowedOrigins` (from
 * OAUTH_RETURN_ORIGINS) its origin must be one of them; without, any https origin, or http on a
 * loopback host (local development).
 */
export function returnToProblem(
  returnTo: string,
  allowedOrigins: readonly string[] | undefined,
): string | null {
  const url = URL.parse(returnTo);
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
    return 'must be an absolute http(s) URL';
  }
  if (url.username || url.password) return 'must not carry a user name or password';
  if (allowedOrigins) {
    return allowedOrigins.includes(url.origin)
      ? null
      : `origin ${url.origin} is not listed in OAUTH_RETURN_ORIGINS`;
  }
  if (url.protocol === 'https:' || LOOPBACK.test(url.hostname)) return null;
  return 'must be https (http only on a loopback host), or an origin listed in OAUTH_RETURN_ORIGINS';
}
