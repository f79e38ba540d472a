import type { Clock } from '../../domain/clock.js';
import type { Store, TeamRow } from '../../store/port.js';

/**
 * The tenant's teams, cached briefly: visibility needs team slugs (for `shared_team_slugs`) on
 * every non-admin read, and teams change rarely. Changes on this process drop the cache at once.
 */
export interface TeamDirectory {
  teamsOf(tenantId: string): Promise<readonly TeamRow[]>;
  forget(tenantId: string): void;
}

export function createTeamDirectory(store: Pick<Store, 'listTeams'>, clock: Clock, ttlMs = 5000): TeamDirectory {
  const cache = new Map<string, { teams: readonly TeamRow[]; at: number }>();
  return {
    async teamsOf(tenantId) {
      const hit = cache.get(tenantId);
      const now = clock.now().getTime();
      if (hit && now - hit.at < ttlMs) return hit.teams;
      const teams = await store.listTeams(tenantId);
      if (cache.size > 10_000) cache.clear();
      cache.set(tenantId, { teams, at: now });
      return teams;
    },
    forget(tenantId) {
      cache.delete(tenantId);
    },
  };
}
