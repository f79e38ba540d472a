import type { Principal } from '../../domain/principal.js';
import { seesWholeTenant } from '../../domain/roles.js';
import type { CredentialRow, Visibility } from '../../store/port.js';
import type { TeamDirectory } from '../tenancy/team-directory.js';

/**
 * The one rule for which credentials a principal may see — `GLOBAL` ones, its teams' ones, and
 * `SPECIFIC_TEAMS` ones shared with one of its teams; owners and admins see all. The list query
 * encodes the same rule in SQL (store/queries.ts); every reveal checks the row with `canSee`.
 */
export async function visibilityOf(p: Principal, directory: TeamDirectory): Promise<Visibility> {
  if (seesWholeTenant(p.role)) return { all: true };
  if (p.teamIds.length === 0) return { all: false, teamIds: [], teamSlugs: [] };
  const teams = (await directory.teamsOf(p.tenantId)).filter((t) => p.teamIds.includes(t.id));
  return { all: false, teamIds: teams.map((t) => t.id), teamSlugs: teams.map((t) => t.slug) };
}

export function canSee(v: Visibility, c: CredentialRow): boolean {
  if (v.all || c.readAccess === 'GLOBAL') return true;
  if (c.teamId !== null && v.teamIds.includes(c.teamId)) return true;
  return c.readAccess === 'SPECIFIC_TEAMS' && c.sharedTeamSlugs.some((s) => v.teamSlugs.includes(s));
}

/**
 * Write scope, the one rule for which credentials a principal may change at all — write, delete,
 * restore, rotate, refresh, verify, connect, move or share (each also needs its permission):
 * owners and admins any credential of the tenant; every other role only a credential owned by
 * one of its teams. `read_access` grants reading only: a credential seen through `GLOBAL` or a
 * `SPECIFIC_TEAMS` share is never changed through it, and a credential without a team is the
 * whole tenant's, changed only by a whole-tenant role. The same rule bounds where a change may
 * leave a credential (`checkPlacement`), so nobody can move a credential out of its own reach
 * or into someone else's, nor create one it could not change.
 */
export function canChange(v: Visibility, c: Pick<CredentialRow, 'teamId'>): boolean {
  return v.all || (c.teamId !== null && v.teamIds.includes(c.teamId));
}
