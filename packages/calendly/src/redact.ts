// Secrets must never reach logs or error messages: tokens, client secrets, OAuth codes and
// webhook signing keys all travel through this client.

const REDACTED = '[redacted]';

// Compared after lower-casing and dropping `_`/`-`, so `access_token`, `accessToken` and
// `Access-Token` all match.
const SECRET_KEYS = new Set([
  'accesstoken',
  'refreshtoken',
  'token',
  'idtoken',
  'code',
  'clientsecret',
  'signingkey',
  'codeverifier',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'secret',
  'personalaccesstoken',
  'apikey',
]);

export function isSecretKey(key: string): boolean {
  return SECRET_KEYS.has(key.toLowerCase().replace(/[-_]/g, ''));
}

// A bearer or basic credential can end up inside a free-text string (an echoed header).
const CREDENTIAL_IN_TEXT = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;

function redactString(value: string): string {
  return value.replace(CREDENTIAL_IN_TEXT, `$1 ${REDACTED}`);
}

/**
 * Returns a deep copy of `value` in which every value under a secret-looking key is replaced
 * by '[redacted]'. Safe on cycles; leaves the input untouched.
 */
export function redact(value: unknown): unknown {
  return walk(value, new WeakSet());
}

function walk(value: unknown, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[circular]';
  seen.add(value);
  if (Array.isArray(value)) return value.map((item) => walk(item, seen));
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = isSecretKey(key) ? REDACTED : walk(inner, seen);
  }
  return out;
}

/**
 * A request path fit for logs: values of secret-named query parameters are replaced, the rest
 * is kept so a failed call can still be told apart from its neighbours.
 */
export function redactPath(path: string): string {
  const queryStart = path.indexOf('?');
  if (queryStart === -1) return path;
  const pathname = path.slice(0, queryStart);
  const query = path.slice(queryStart + 1);
  const parts = query.split('&').map((part) => {
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    let name = rawName;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
    } catch {
      // A malformed escape is kept as is; the raw name still decides.
    }
    return isSecretKey(name) ? `${rawName}=${REDACTED}` : part;
  });
  return `${pathname}?${parts.join('&')}`;
}
