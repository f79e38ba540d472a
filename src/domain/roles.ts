/** Roles per tenant and what each may do. One table; services ask `can()` and nothing else. */
export const ROLES = ['owner', 'admin', 'integration_admin', 'member', 'viewer', 'service', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'credentials:read',
  'credentials:write',
  'credentials:delete',
  'credentials:reveal',
  'credentials:rotate',
  // Send a request through the proxy with the credential put in by the server: the caller never
  // holds the secret, so a key may have it without `credentials:reveal`.
  'credentials:use',
  'audit:read',
  'access_keys:manage',
  'teams:manage',
  // Webhook subscriptions: where the tenant's events go, and their signing secrets.
  'webhooks:manage',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  owner: new Set(PERMISSIONS),
  admin: new Set<Permission>([
    'credentials:read',
    'credentials:write',
    'credentials:delete',
    'credentials:rotate',
    'audit:read',
    'access_keys:manage',
    'teams:manage',
    'webhooks:manage',
  ]),
  // The source documents reserve decrypted secrets for integration admins and service accounts.
  integration_admin: new Set<Permission>([
    'credentials:read',
    'credentials:write',
    'credentials:delete',
    'credentials:reveal',
    'credentials:rotate',
    'credentials:use',
  ]),
  member: new Set<Permission>(['credentials:read', 'credentials:write']),
  viewer: new Set<Permission>(['credentials:read']),
  service: new Set<Permission>(['credentials:read', 'credentials:reveal', 'credentials:use']),
  // A workflow engine or an AI agent: uses credentials through the proxy and derived tokens, and
  // never holds a stored secret. `service` keeps reveal, which the source documents give it.
  agent: new Set<Permission>(['credentials:read', 'credentials:use']),
};

export function can(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}

export function permissionsOf(role: Role): ReadonlySet<Permission> {
  return ROLE_PERMISSIONS[role];
}

/** A principal may hand out a role only if it holds every permission of that role itself. */
export function canGrant(granter: Role, grantee: Role): boolean {
  for (const p of ROLE_PERMISSIONS[grantee]) if (!ROLE_PERMISSIONS[granter].has(p)) return false;
  return true;
}

/** Roles that see and may change every credential of the tenant regardless of team scoping (services/credentials/visibility.ts). */
export function seesWholeTenant(role: Role): boolean {
  return role === 'owner' || role === 'admin';
}
