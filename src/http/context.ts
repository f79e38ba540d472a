import type { RequestContext } from '../domain/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every route that is not marked public. */
    ctx: RequestContext;
  }
  interface FastifyContextConfig {
    /** Routes that answer without authentication (health, docs). Everything else is denied by default. */
    public?: boolean;
    /**
     * Routes that hand out secrets: what their refusals are audited as. A 403 there is recorded
     * as `action` (not `access.denied`), and a 404 too, with outcome `not_found`: a probe of an id
     * the caller cannot see is seen in the log although the caller gets the 404 of an id that
     * never existed. `param` names the path parameter that holds the target's id.
     */
    reveals?: { action: string; target: string; param: string };
    /** The proxy: its body and headers are the target's, so no body parsing and no idempotency of ours. */
    proxied?: boolean;
  }
}
