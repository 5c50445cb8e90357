// Plain-fetch helpers for calling the simulator the way any Calendly client would.

export interface Answer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export async function api<T = Record<string, unknown>>(
  baseUrl: string,
  token: string,
  path: string,
  init: { method?: string; json?: unknown } = {},
): Promise<Answer<T>> {
  const response = await fetch(`${baseUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${token}`,
      ...(init.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: init.json === undefined ? undefined : JSON.stringify(init.json),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : {} };
}

/** Follows a URI the way calhook must: its path against the configured base URL. */
export function pathOf(uri: string): string {
  const url = new URL(uri);
  return `${url.pathname}${url.search}`;
}

export async function postForm(
  url: string,
  form: Record<string, string>,
  basicAuth?: { id: string; secret: string },
): Promise<Answer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(basicAuth
        ? {
            authorization: `Basic ${Buffer.from(`${basicAuth.id}:${basicAuth.secret}`).toString('base64')}`,
          }
        : {}),
    },
    body: new URLSearchParams(form),
  });
  return {
    status: response.status,
    headers: response.headers,
    body: (await response.json()) as Record<string, unknown>,
  };
}
