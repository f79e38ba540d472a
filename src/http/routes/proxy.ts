import type { Readable } from 'node:stream';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Histogram, type Registry } from 'prom-client';
import { Type } from 'typebox';
import type { Services } from '../../services/services.js';
import type { UseResult } from '../../services/proxy/proxy-service.js';
import { PathId } from '../schemas/common.js';

const tags = ['proxy'];

const DESCRIPTION = [
  'Sends the request through Latchkey with the credential put in by the server; the caller never holds the secret (docs/use.md).',
  'Needs `credentials:use` and the visibility of a reveal; a credential the caller cannot see is 404.',
  'The destination is `x-latchkey-target` (`https://host[:port][/base path]`) followed by whatever follows `/proxy` in this URL, query included.',
  "Its host must match the credential's `allowed_hosts` (exact names; `*.example.com` = exactly one label; a port only if the entry names it; an empty list allows nothing; an address does not match a name) and pass the egress guard (public https unless LATCHKEY_EGRESS_ALLOW says otherwise): else 403.",
  "Any method; the body is streamed (at most 1 MiB, as every request) and so is the answer, whose status and headers are the target's: a 3xx is returned, never followed.",
  "Not forwarded: the caller's `authorization`, `x-tenant-id`, `x-request-id`, every `x-latchkey-*` header, hop-by-hop headers (RFC 9110 §7.6.1) and forwarding headers; `accept-encoding` is set to identity.",
  "The injected values are replaced with `[REDACTED]` wherever they come back in the answer's headers or body (as sent, URL-encoded, hex, base64); an answer with a content-encoding is refused (502).",
  'Errors of Latchkey itself use the envelope: 502 `UPSTREAM_FAILED` (target unreachable, TLS failed, answer too large or encoded), 504 `UPSTREAM_TIMEOUT`, 422 for a type the proxy cannot inject.',
  'Every use is audited: `credential.use` (durable before the secret is used) and `credential.use_result` (status, bytes, duration).',
].join(' ');

const Params = Type.Object({ id: PathId, '*': Type.Optional(Type.String()) });
const Headers = Type.Object({
  'x-latchkey-target': Type.String({ description: 'Destination: https://host[:port][/base path]', maxLength: 2048 }),
});

export function proxyRoutes(s: Services, registry: Registry): FastifyPluginAsync {
  return async (app) => {
    const uses = new Counter({
      name: 'latchkey_proxy_requests_total',
      help: 'Requests sent through the proxy, by injection kind and outcome',
      labelNames: ['injection', 'outcome'],
      registers: [registry],
    });
    const bytes = new Counter({
      name: 'latchkey_proxy_response_bytes_total',
      help: 'Bytes of target answers streamed back through the proxy',
      registers: [registry],
    });
    const duration = new Histogram({
      name: 'latchkey_proxy_duration_seconds',
      help: 'Time from sending a proxied request to the end of its answer',
      labelNames: ['injection'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    });
    const observe = (r: UseResult): void => {
      uses.labels({ injection: r.injection, outcome: r.outcome }).inc();
      bytes.inc(r.bytes);
      duration.labels({ injection: r.injection }).observe(r.durationMs / 1000);
    };

    // The body is the target's: not parsed, not buffered, handed on as the stream it is.
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));

    const handler = async (request: FastifyRequest, reply: FastifyReply) => {
      const { id } = request.params as { id: string };
      const target = request.headers['x-latchkey-target'];
      const at = request.url.indexOf('/proxy');
      const res = await s.proxy.forward(
        request.ctx,
        {
          credentialId: id,
          target: Array.isArray(target) ? target[0] : target,
          rest: request.url.slice(at + '/proxy'.length),
          method: request.method,
          headers: request.headers,
          body: (request.body as Readable | undefined) ?? null,
        },
        observe,
      );
      return reply.code(res.status).headers(res.headers).send(res.body);
    };
    const schema = { tags, summary: 'Send a request with a credential the caller never holds', description: DESCRIPTION, params: Params, headers: Headers };
    const config = { proxied: true, reveals: { action: 'credential.use', target: 'credential', param: 'id' } };
    // The same endpoint with nothing after `/proxy`: documented once, below.
    app.all('/credentials/:id/proxy', { schema: { ...schema, hide: true }, config }, handler);
    app.all('/credentials/:id/proxy/*', { schema, config }, handler);
  };
}
