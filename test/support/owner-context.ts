import type { RequestContext } from '../../src/domain/principal.ts';

/** The context of a tenant owner's key, for tests that call the services in process. */
export function ownerContext(tenantId: string, name = 'test'): RequestContext {
  const slug = name.replace(/\W+/g, '_');
  return {
    principal: {
      type: 'access_key',
      id: `key_${slug}`,
      name,
      email: null,
      tenantId,
      tenantIds: [tenantId],
      role: 'owner',
      teamIds: [],
      platformAdmin: true,
    },
    requestId: `req_${slug}`,
    ip: '127.0.0.1',
    userAgent: 'test',
  };
}
