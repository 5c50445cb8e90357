// Where Calendly posts a hook's deliveries: `${PUBLIC_URL}/webhooks/calendly/<hookId>`. The one
// place that URL is built and read back: the receiver's route, subscription reconcile and the
// development helpers all use these.

/** The receiver's route (Fastify syntax). */
export const HOOK_ROUTE = '/webhooks/calendly/:hookId';

/** Hook ids as any calhook ever minted them: URL-safe, 16 to 64 characters. */
export const HOOK_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

const HOOK_PATH = /\/webhooks\/calendly\/([A-Za-z0-9_-]{16,64})$/;

const base = (publicUrl: string) => `${publicUrl.replace(/\/+$/, '')}/webhooks/calendly/`;

/** The callback URL Calendly posts to for a hook. */
export function callbackUrl(publicUrl: string, hookId: string): string {
  return `${base(publicUrl)}${hookId}`;
}

/** The hook id in a callback URL of ours (under any public URL), or null. */
export function hookIdOf(url: string): string | null {
  try {
    return HOOK_PATH.exec(new URL(url).pathname)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Whether a callback URL is under this public URL (as opposed to one we used before). */
export function isUnderPublicUrl(url: string, publicUrl: string): boolean {
  return url.startsWith(base(publicUrl));
}
