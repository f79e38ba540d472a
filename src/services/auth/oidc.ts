import { createHash } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { LatchkeyError } from '../../domain/errors.js';
import type { Principal } from '../../domain/principal.js';
import { ROLES, type Role } from '../../domain/roles.js';
import type { Store } from '../../store/port.js';
import type { TeamDirectory } from '../tenancy/team-directory.js';

/**
 * One trusted issuer, set by the operator (LATCHKEY_OIDC_ISSUERS, a JSON array of these).
 * Claims map onto Latchkey's model: which tenant(s), which role, which teams.
 */
export interface OidcIssuerConfig {
  issuer: string;
  audience: string | string[];
  /** Else discovered from `<issuer>/.well-known/openid-configuration`. */
  jwks_uri?: string;
  /** Asymmetric only: HMAC with a published key would let anyone sign. */
  algorithms?: string[];
  /** Every principal of this issuer belongs to this tenant … */
  tenant_id?: string;
  /** … or the claim (string or array of tenant ids) says which. */
  tenant_claim?: string;
  role_claim?: string;
  /**
   * Claim value → role: the only way a token's claims grant a role. A value it does not list
   * grants nothing, even one spelled like a role (`owner`): whoever can put a group name into a
   * token at the identity provider must not pick their role in every tenant here.
   */
  role_map?: Record<string, Role>;
  /** The role of a token none of whose role_claim values role_map lists; unset = refused (401). */
  default_role?: Role;
  /** Claim holding team slugs (string or array). */
  teams_claim?: string;
  name_claim?: string;
  email_claim?: string;
  principal_type?: 'user' | 'workload';
}

export interface OidcVerifier {
  authenticate(token: string, tenantHeader: string | undefined): Promise<Principal>;
}

const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

const unauthenticated = (): LatchkeyError => new LatchkeyError('UNAUTHENTICATED', 'Missing, malformed, expired or unknown credentials');

function claimList(payload: JWTPayload, claim: string | undefined): string[] {
  if (!claim) return [];
  const v = payload[claim];
  if (typeof v === 'string') return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

const isRole = (v: unknown): v is Role => (ROLES as readonly unknown[]).includes(v);

/** A role setting that would silently grant nothing (or something unintended) is a start-up error. */
function checkRoles(c: OidcIssuerConfig): void {
  const map: unknown = c.role_map;
  if (map !== undefined && (typeof map !== 'object' || map === null || Array.isArray(map)))
    throw new Error(`issuer ${c.issuer}: role_map must be an object of claim value → role`);
  for (const [value, role] of Object.entries(c.role_map ?? {})) {
    if (!isRole(role)) throw new Error(`issuer ${c.issuer}: role_map maps "${value}" to "${String(role)}", which is not one of ${ROLES.join(', ')}`);
  }
  if (c.default_role !== undefined && !isRole(c.default_role)) throw new Error(`issuer ${c.issuer}: default_role must be one of ${ROLES.join(', ')}`);
  if (c.role_claim && Object.keys(c.role_map ?? {}).length === 0) {
    throw new Error(`issuer ${c.issuer}: role_claim needs a role_map (claim value → role); claim values are never taken as role names`);
  }
  if (!c.role_claim && c.role_map !== undefined) throw new Error(`issuer ${c.issuer}: role_map needs role_claim (the claim whose values it maps)`);
  if (!c.role_claim && c.default_role === undefined) throw new Error(`issuer ${c.issuer}: grants no role: set role_claim with role_map, or default_role`);
}

export function parseIssuerConfigs(json: string | undefined): OidcIssuerConfig[] {
  if (!json) return [];
  const parsed: unknown = JSON.parse(json);
  if (!Array.isArray(parsed)) throw new Error('LATCHKEY_OIDC_ISSUERS must be a JSON array');
  for (const c of parsed as OidcIssuerConfig[]) {
    if (typeof c.issuer !== 'string' || !c.audience) throw new Error('each LATCHKEY_OIDC_ISSUERS entry needs issuer and audience');
    if (!c.tenant_id && !c.tenant_claim) throw new Error(`issuer ${c.issuer}: set tenant_id or tenant_claim`);
    for (const alg of c.algorithms ?? [])
      if (!ASYMMETRIC.includes(alg)) throw new Error(`issuer ${c.issuer}: algorithm ${alg} is not allowed (asymmetric only)`);
    checkRoles(c);
  }
  return parsed as OidcIssuerConfig[];
}

/**
 * JWT sign-in verified with `jose` against the issuer's JWKS: signature, `iss`, `aud`, `exp`,
 * `nbf` and an asymmetric alg allow-list (`alg: none` and HS256-with-the-public-key fail here).
 * jose caches the key set and refetches it, with a cooldown, when a token names an unknown `kid`.
 * Every failure is the same 401.
 */
/** The tenants a token's claims name (or the issuer's one tenant). */
export function tenantsOfClaims(c: OidcIssuerConfig, payload: JWTPayload): string[] {
  return c.tenant_id ? [c.tenant_id] : claimList(payload, c.tenant_claim);
}

/** What the claim mapping reads of a token: the rest of it is never kept (console sessions store this). */
export function mappedClaims(c: OidcIssuerConfig, payload: JWTPayload): JWTPayload {
  const names = ['sub', c.tenant_claim, c.role_claim, c.teams_claim, c.name_claim ?? 'name', c.email_claim ?? 'email'];
  const kept: JWTPayload = {};
  for (const n of names) if (n !== undefined && Object.hasOwn(payload, n)) kept[n] = payload[n];
  return kept;
}

/**
 * A verified token's claims as a principal of this issuer: which tenant, which role (only through
 * role_map or default_role), which teams. Every way of signing in with the issuer (a bearer JWT, a
 * console session) maps claims here, so they cannot disagree.
 */
export async function principalFromClaims(
  c: OidcIssuerConfig,
  payload: JWTPayload,
  tenantHeader: string | undefined,
  deps: { store: Pick<Store, 'getTenant'>; teams: TeamDirectory },
): Promise<Principal> {
  const tenantIds = tenantsOfClaims(c, payload);
  if (tenantIds.length === 0) throw unauthenticated();
  let tenantId: string;
  if (tenantHeader !== undefined) {
    if (!tenantIds.includes(tenantHeader)) throw new LatchkeyError('FORBIDDEN', 'You do not belong to that tenant');
    tenantId = tenantHeader;
  } else if (tenantIds.length === 1 && tenantIds[0] !== undefined) {
    tenantId = tenantIds[0];
  } else {
    throw new LatchkeyError('INVALID_PARAMETER', 'You belong to several tenants: choose one with x-tenant-id');
  }
  if (!(await deps.store.getTenant(tenantId))) throw unauthenticated();
  // Only role_map grants a role (Object.hasOwn: a claim value "constructor" is not a key of it).
  const mapped = claimList(payload, c.role_claim).find((v) => c.role_map !== undefined && Object.hasOwn(c.role_map, v));
  const role = mapped === undefined ? c.default_role : c.role_map?.[mapped];
  // A valid token that maps to no role is refused like any other failure: no role, no access.
  if (!role) throw unauthenticated();
  const slugs = claimList(payload, c.teams_claim);
  const teamIds = slugs.length === 0 ? [] : (await deps.teams.teamsOf(tenantId)).filter((t) => slugs.includes(t.slug)).map((t) => t.id);
  const subjectHash = createHash('sha256')
    .update(`${c.issuer}\0${String(payload.sub)}`)
    .digest('hex')
    .slice(0, 26);
  const name = claimList(payload, c.name_claim ?? 'name')[0] ?? String(payload.sub);
  return {
    type: c.principal_type ?? 'user',
    id: `usr_${subjectHash}`,
    name: name.slice(0, 200),
    email: claimList(payload, c.email_claim ?? 'email')[0] ?? null,
    tenantId,
    tenantIds,
    role,
    teamIds,
    platformAdmin: false,
  };
}

export function createOidcVerifier(configs: readonly OidcIssuerConfig[], deps: { store: Pick<Store, 'getTenant'>; teams: TeamDirectory }): OidcVerifier {
  const byIssuer = new Map(configs.map((c) => [c.issuer, c]));
  const keySets = new Map<string, Promise<JWTVerifyGetKey>>();
  // Only servers configured with issuers load jose, and they start loading it here.
  const jose = import('jose');

  const keySetFor = (c: OidcIssuerConfig): Promise<JWTVerifyGetKey> => {
    let p = keySets.get(c.issuer);
    if (!p) {
      p = (async () => {
        let uri = c.jwks_uri;
        if (!uri) {
          const res = await fetch(`${c.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(5000) });
          if (!res.ok) throw new Error('discovery failed');
          uri = ((await res.json()) as { jwks_uri?: string }).jwks_uri;
          if (!uri) throw new Error('discovery has no jwks_uri');
        }
        return (await jose).createRemoteJWKSet(new URL(uri), { cooldownDuration: 30_000, cacheMaxAge: 10 * 60_000, timeoutDuration: 5000 });
      })();
      // A failed discovery is retried on the next token rather than cached forever.
      p.catch(() => keySets.delete(c.issuer));
      keySets.set(c.issuer, p);
    }
    return p;
  };

  return {
    async authenticate(token, tenantHeader) {
      let iss: string | undefined;
      const { decodeJwt, jwtVerify } = await jose;
      try {
        iss = decodeJwt(token).iss;
      } catch {
        throw unauthenticated();
      }
      const c = iss === undefined ? undefined : byIssuer.get(iss);
      if (!c) throw unauthenticated();
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, await keySetFor(c), {
          issuer: c.issuer,
          audience: c.audience,
          algorithms: c.algorithms ?? ASYMMETRIC,
          requiredClaims: ['sub', 'exp'],
          clockTolerance: 30,
        }));
      } catch {
        throw unauthenticated();
      }
      return principalFromClaims(c, payload, tenantHeader, deps);
    },
  };
}
