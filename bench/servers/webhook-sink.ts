// The app's endpoint for bench/app-webhooks.ts: answers every POST 204 at once and remembers,
// per request, when it arrived and how long after the change's `occurredAt` (same machine
// clock). GET /stats answers the count and those lags; DELETE /stats forgets them.
//   PORT=4200 node bench/servers/webhook-sink.ts
import { createServer } from 'node:http';

let count = 0;
let first = 0;
let last = 0;
const lagsMs: number[] = [];
const ids = new Set<string>();

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/stats') {
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ count, unique: ids.size, first, last, lagsMs }));
    return;
  }
  if (request.method === 'DELETE' && request.url === '/stats') {
    count = 0;
    first = 0;
    last = 0;
    lagsMs.length = 0;
    ids.clear();
    response.writeHead(204).end();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const now = Date.now();
    count += 1;
    if (first === 0) first = now;
    last = now;
    const id = request.headers['webhook-id'];
    if (typeof id === 'string') ids.add(id);
    try {
      const occurredAt = Date.parse(
        (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { occurredAt: string }).occurredAt,
      );
      if (Number.isFinite(occurredAt)) lagsMs.push(now - occurredAt);
    } catch {}
    response.writeHead(204).end();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT ?? 4200), '127.0.0.1');
