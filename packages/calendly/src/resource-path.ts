// Calendly names resources by absolute URIs on https://api.calendly.com. We only ever take the
// path and query of such a URI and send it to the configured API base: a stand-in for Calendly
// then works, and a crafted URI in a webhook payload cannot make us send a bearer token to
// another host. See CALENDLY.md "URIs and ids".

const PLACEHOLDER_ORIGIN = 'https://api.calendly.com';

/** The path and query of a Calendly resource URI (or of a path given as is). Rejects nothing. */
export function resourcePath(uri: string): string {
  // Parsing against a fixed origin turns relative paths into absolute ones and normalises dot
  // segments; the host of an absolute URI is read and dropped.
  const url = new URL(uri, PLACEHOLDER_ORIGIN);
  return `${url.pathname}${url.search}`;
}

export interface Target {
  /** scheme://host[:port] of the configured base. */
  origin: string;
  /** The full request path: the base's own path prefix, then the resource path. */
  path: string;
}

/**
 * Where a request for `path` goes under `baseUrl`. Joined by string concatenation, never by
 * `new URL(path, base)`: a path such as `//evil.example/x` would otherwise switch hosts.
 */
export function targetFor(baseUrl: string, path: string): Target {
  const base = new URL(baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const suffix = path.startsWith('/') ? path : `/${path}`;
  return { origin: base.origin, path: `${prefix}${suffix}` };
}

/** Appends query parameters to a path, skipping undefined values. */
export function withQuery(
  path: string,
  query: Record<string, string | number | undefined>,
): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) params.append(key, String(value));
  }
  const search = params.toString();
  if (search === '') return path;
  return `${path}${path.includes('?') ? '&' : '?'}${search}`;
}
