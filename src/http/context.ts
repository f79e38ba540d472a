import type { RequestContext } from '../domain/principal.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the authentication hook on every route that is not marked public. */
    ctx: RequestContext;
  }
  interface FastifyContextConfig {
    /** Routes that answer without authentication (health, docs). Everything else is denied by default. */
    public?: boolean;
  }
}

export {};
