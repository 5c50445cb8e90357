// Deep redaction of what calhook logs. pino's path redaction only reaches the paths it is told
// about; tokens and keys can sit deeper (an error's cause, a nested options object, a JSON
// string echoed by Calendly), so every logged object is also walked here by key name.
import { serializeError } from './serialize-error.ts';

export const REDACTED = '[redacted]';

// Compared after lower-casing and dropping `_` and `-`: `access_token`, `accessToken` and
// `Access-Token` all match.
const SECRET_KEYS = new Set([
  'accesstoken',
  'refreshtoken',
  'idtoken',
  'token',
  'tokens',
  'apitoken',
  'apikey',
  'personalaccesstoken',
  'authorization',
  'proxyauthorization',
  'cookie',
  'setcookie',
  'password',
  'secret',
  'clientsecret',
  'signingkey',
  'signingkeys',
  'webhooksigningkey',
  'encryptionkey',
  'encryptionkeys',
  'codeverifier',
  'authorizationcode',
  'calendlywebhooksignature',
  // The hosted OAuth flow's one-time token: whoever holds it may finish that flow.
  'completion',
  // Ciphertexts are safe alone, but nothing that reads logs needs them.
  'accesstokenenc',
  'refreshtokenenc',
  'signingkeyenc',
]);

const normalise = (key: string) => key.toLowerCase().replace(/[-_]/g, '');

/**
 * `code` is an OAuth authorization code in the connect flow but an error code almost
 * everywhere else (ECONNREFUSED, FST_ERR_…, 23503, zod's invalid_type), which operators need.
 * Error codes are numbers or single-case identifiers; a random OAuth code mixes cases (or
 * carries `-`), so it is redacted.
 */
function isSecretValue(key: string, value: unknown): boolean {
  const name = normalise(key);
  if (SECRET_KEYS.has(name)) return true;
  if (name === 'code' || name === 'oauthcode') {
    if (typeof value === 'number') return false;
    return !(typeof value === 'string' && /^(?:[A-Z0-9_.]{0,64}|[a-z0-9_.]{0,64})$/.test(value));
  }
  return false;
}

const secretNames =
  'access_token|refresh_token|id_token|client_secret|code_verifier|signing_key|code|completion|token|password';
// A credential inside free text: an echoed header, a URL with a query, a JSON body as a string.
const IN_TEXT: [RegExp, string][] = [
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi, `$1 ${REDACTED}`],
  [new RegExp(`(^|[?&\\s])((?:${secretNames})=)[^&\\s"']+`, 'gim'), `$1$2${REDACTED}`],
  [
    new RegExp(
      `("(?:${secretNames}|accessToken|refreshToken|clientSecret|signingKey)"\\s*:\\s*")[^"]*"`,
      'g',
    ),
    `$1${REDACTED}"`,
  ],
];

// Drizzle's failed-query message ends with the statement's bound values ("Failed query: …
// \nparams: …"): raw delivery bodies. Wherever that text is logged (a line's message, a
// `reason` field), everything from there on is cut, unless serialize-error.ts already did.
const PARAMS_IN_TEXT = /\nparams: (?!\[(?:\d+ values )?withheld\])[\s\S]*/;

// Every pattern above needs whitespace, `=` or `"`: ids, routes and codes have none of them
// and are returned as they are, without running the patterns.
const MAYBE_CREDENTIAL = /[\s="]/;

export function redactText(value: string): string {
  if (!MAYBE_CREDENTIAL.test(value)) return value;
  let out = value;
  for (const [pattern, replacement] of IN_TEXT) out = out.replace(pattern, replacement);
  if (out.includes('\nparams: ')) out = out.replace(PARAMS_IN_TEXT, '\nparams: [withheld]');
  return out;
}

/**
 * A copy of `value` with secret-named fields replaced and credentials in strings masked.
 * Errors become pino's serialised form first (without bound query parameters, see
 * serialize-error.ts), so their own fields and causes are walked too.
 */
export function redactValue(value: unknown, options: RedactOptions = {}): unknown {
  const always = new Set((options.alwaysSecret ?? []).map(normalise));
  const secret =
    always.size === 0
      ? isSecretValue
      : (key: string, inner: unknown) => always.has(normalise(key)) || isSecretValue(key, inner);
  return walk(value, new Set(), 0, secret);
}

export interface RedactOptions {
  /** Field names that are secret whatever their value, e.g. `code` where it is only ever an OAuth code. */
  alwaysSecret?: string[];
}

type SecretTest = (key: string, value: unknown) => boolean;

// `ancestors` holds the objects on the path from the root only: the same object logged twice
// side by side (`{ err, error }`) is walked twice; only a real cycle is cut.
function walk(value: unknown, ancestors: Set<object>, depth: number, secret: SecretTest): unknown {
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (ancestors.has(value)) return '[circular]';
  // Logged objects are small; a pathological one is cut rather than walked forever.
  if (depth > 12) return '[too deep]';
  ancestors.add(value);
  try {
    return walkObject(value, ancestors, depth, secret);
  } finally {
    ancestors.delete(value);
  }
}

function walkObject(
  value: object,
  ancestors: Set<object>,
  depth: number,
  secret: SecretTest,
): unknown {
  if (value instanceof Error) return walk(serializeError(value), ancestors, depth + 1, secret);
  if (Array.isArray(value)) return value.map((item) => walk(item, ancestors, depth + 1, secret));
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[${value.byteLength} bytes]`;
  if (value instanceof URL) return redactText(value.href);
  // Dates and other class instances keep their own JSON form.
  const proto = Object.getPrototypeOf(value);
  if (
    proto !== Object.prototype &&
    proto !== null &&
    typeof (value as { toJSON?: unknown }).toJSON === 'function'
  ) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) {
    out[key] = secret(key, inner) ? REDACTED : walk(inner, ancestors, depth + 1, secret);
  }
  return out;
}
