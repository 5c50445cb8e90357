import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  headers: IncomingHttpHeaders;
  /** The body's text, exactly as received (signatures are over it). */
  body: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read the Change's fields and assert them with expect
  change: any;
  /** What the endpoint answered. */
  answered: number;
}

export interface AppEndpoint {
  url: string;
  received: ReceivedWebhook[];
  /** Decides each answer (200 by default); may look at what came before, or hold it. */
  respond: (request: { webhookId: string; body: string }) => number | Promise<number>;
  /** Requests read and not yet answered. */
  pending: number;
  /** Stops listening: connections are then refused. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** A local HTTP server playing the app backend's webhook endpoint, remembering every request. */
export async function startAppEndpoint(): Promise<AppEndpoint> {
  let server: Server | null = null;
  let port = 0;
  const endpoint: AppEndpoint = {
    url: '',
    received: [],
    respond: () => 200,
    pending: 0,
    async stop() {
      const closing = server;
      server = null;
      if (!closing) return;
      closing.closeAllConnections();
      await new Promise<void>((resolve) => closing.close(() => resolve()));
    },
    async start() {
      if (server) return;
      const created = createServer((request, response) => {
        const chunks: Buffer[] = [];
        request.on('data', (chunk: Buffer) => chunks.push(chunk));
        request.on('end', async () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const webhookId = String(request.headers['webhook-id'] ?? '');
          endpoint.pending += 1;
          const answered = await endpoint.respond({ webhookId, body });
          endpoint.pending -= 1;
          let change: unknown = null;
          try {
            change = JSON.parse(body);
          } catch {}
          endpoint.received.push({ headers: request.headers, body, change, answered });
          if (response.destroyed) return;
          response.writeHead(answered, { 'content-type': 'application/json' }).end('{}');
        });
      });
      await new Promise<void>((resolve) => created.listen(port, '127.0.0.1', () => resolve()));
      port = (created.address() as AddressInfo).port;
      endpoint.url = `http://127.0.0.1:${port}/hooks/calhook`;
      server = created;
    },
    close: () => endpoint.stop(),
  };
  await endpoint.start();
  return endpoint;
}
