import { randomBytes, randomUUID } from 'node:crypto';

/** Calendly names every resource by an absolute URI on this origin, whatever host serves it. */
export const API_ORIGIN = 'https://api.calendly.com';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A 16-character id like Calendly's user and organization ids. */
export function shortId(): string {
  const bytes = randomBytes(16);
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte % ALPHABET.length];
  return id;
}

export function uuid(): string {
  return randomUUID();
}

/** An opaque bearer secret (access, refresh and personal tokens, authorization codes). */
export function secret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

export function apiUri(path: string): string {
  return `${API_ORIGIN}${path}`;
}

/** The path of a Calendly URI, so a URI given with any host is looked up the same way. */
export function uriPath(uri: string): string {
  try {
    return new URL(uri).pathname;
  } catch {
    return uri;
  }
}

/** Normalises a URI (or a bare path) to the canonical `https://api.calendly.com/...` form. */
export function canonicalUri(uri: string): string {
  return apiUri(uriPath(uri).replace(/\/+$/, ''));
}
