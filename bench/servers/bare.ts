// Baseline 1 for bench/receiver.ts: the HTTP ceiling. A Fastify route that takes the raw body
// and answers 200 without looking at it, so whatever calhook's receiver costs beyond this is
// signature, lookup and Redis work.
//   PORT=4101 node bench/servers/bare.ts
import Fastify from 'fastify';

const app = Fastify({ logger: false });
app.removeAllContentTypeParsers();
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_r, body, done) =>
  done(null, body),
);
app.post('/webhooks/calendly/:hookId', async () => ({ status: 'accepted' }));
app.get('/healthz', async () => ({ status: 'ok' }));
await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 4101) });
process.on('SIGTERM', () => {
  app.close().then(() => process.exit(0));
});
