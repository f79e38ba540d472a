// Ceiling 4: the naive proxy the proxy rows are measured against: bare Fastify, one route that
// adds an api key header and forwards the request to BENCH_PROXY_TARGET over kept-alive
// connections (Node's own agent, as Latchkey's egress guard uses), streaming the answer back.
// No auth, no credential read, no audit, no scrubbing: what forwarding alone costs on this box.
import { Agent, request } from 'node:http';
import Fastify from 'fastify';
import { listenFromEnv } from './listen-from-env.js';

const target = new URL(process.env.BENCH_PROXY_TARGET ?? 'http://127.0.0.1:1');
const agent = new Agent({ keepAlive: true, maxFreeSockets: 64, scheduling: 'lifo' });

const app = Fastify({ logger: false });

app.get('/forward/*', (req, reply) => {
  const path = req.url.slice('/forward'.length);
  const out = request(
    { method: 'GET', hostname: target.hostname, port: target.port, path, agent, headers: { ...req.headers, host: target.host, 'x-api-key': 'naive' } },
    (res) => {
      void reply
        .code(res.statusCode ?? 502)
        .headers(res.headers)
        .send(res);
    },
  );
  out.on('error', () => void reply.code(502).send({ error: 'upstream failed' }));
  out.end();
});

await listenFromEnv(app, () => agent.destroy());
