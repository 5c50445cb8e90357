// The OpenAPI document the api serves at /openapi.json, built without serving: the app is built
// with every route registered and nothing behind it. `pnpm client:generate` writes it to
// packages/client/openapi.json, where the typed client's types come from.
import type { EndpointService } from '@calhook/app-webhooks';
import type { Connections, OauthFlow } from '@calhook/connections';
import type { Database } from '@calhook/db';
import { createLogger } from '@calhook/observability';
import { type ApiDeps, buildApiApp } from './app.ts';

/**
 * The dependencies that add routes: every optional one of ApiDeps but those that only feed
 * /admin and /metrics. A new one is required here, so this file does not compile until the
 * document is built with it and lists its routes.
 */
type RouteDeps = Required<
  Omit<ApiDeps, 'logger' | 'db' | 'apiToken' | 'checkReady' | 'admin' | 'queues' | 'metrics'>
>;

/** A stand-in for a dependency no route reaches while the document is built. */
function unreachable<T extends object>(name: string): T {
  return new Proxy({} as T, {
    get(_target, key) {
      throw new Error(`${name}.${String(key)} was used while building the OpenAPI document`);
    },
  });
}

export async function openApiDocument(): Promise<Record<string, unknown>> {
  const routeDeps: RouteDeps = {
    connections: unreachable<Connections>('connections'),
    oauth: unreachable<OauthFlow>('oauth'),
    endpoints: unreachable<EndpointService>('endpoints'),
  };
  const app = buildApiApp({
    logger: createLogger({ level: 'silent' }),
    db: unreachable<Database>('db'),
    apiToken: 'unused',
    checkReady: async () => {},
    ...routeDeps,
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
  }
}

/** The document as it is committed: two-space JSON and a final newline. */
export const formatDocument = (document: unknown): string =>
  `${JSON.stringify(document, null, 2)}\n`;
