import type { Clock } from '../../domain/clock.js';
import { LatchkeyError } from '../../domain/errors.js';
import { newId } from '../../domain/ids.js';
import { requirePermission, type RequestContext } from '../../domain/principal.js';
import { canGrant, type Role } from '../../domain/roles.js';
import type { AccessKeyRow, FolderRow, TeamRow } from '../../store/port.js';
import type { AccessKeyStore, TeamStore } from '../../store/port.js';
import type { AuditService } from '../audit/audit-service.js';
import type { TeamDirectory } from './team-directory.js';

export interface TeamsService {
  create(ctx: RequestContext, input: { name: string; slug?: string }): Promise<TeamRow>;
  list(ctx: RequestContext): Promise<readonly TeamRow[]>;
  get(ctx: RequestContext, id: string): Promise<TeamRow>;
  rename(ctx: RequestContext, id: string, name: string, expectedRevision?: number): Promise<TeamRow>;
  remove(ctx: RequestContext, id: string): Promise<void>;
  members(ctx: RequestContext, id: string): Promise<AccessKeyRow[]>;
  addMember(ctx: RequestContext, id: string, accessKeyId: string): Promise<void>;
  removeMember(ctx: RequestContext, id: string, accessKeyId: string): Promise<void>;
  createFolder(ctx: RequestContext, input: { name: string; team_id: string }): Promise<FolderRow>;
  listFolders(ctx: RequestContext): Promise<FolderRow[]>;
  removeFolder(ctx: RequestContext, id: string): Promise<void>;
}

export function teamSlugOf(name: string): string {
  return name
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

/**
 * Teams scope visibility (README, "Teams and folders"). Access keys join teams through their
 * `team_ids`; people signed in with OIDC join through a token claim. A team's slug is fixed at
 * creation because `shared_team_slugs` on credentials refer to it.
 */
export function createTeamsService(deps: {
  store: TeamStore & Pick<AccessKeyStore, 'getAccessKey' | 'listAccessKeys'>;
  audit: AuditService;
  clock: Clock;
  directory: TeamDirectory;
  onMembershipChange: (keyHash: Buffer) => void;
}): TeamsService {
  const { store, audit, clock, directory } = deps;
  const notFound = (id: string) => new LatchkeyError('NOT_FOUND', `No team ${id} in this tenant`);
  const load = async (ctx: RequestContext, id: string): Promise<TeamRow> => {
    const t = await store.getTeam(ctx.principal.tenantId, id);
    if (!t) throw notFound(id);
    return t;
  };
  const loadKey = async (ctx: RequestContext, keyId: string): Promise<AccessKeyRow> => {
    const k = await store.getAccessKey(ctx.principal.tenantId, keyId);
    if (!k) throw new LatchkeyError('ACCESS_KEY_NOT_FOUND', `No access key ${keyId} in this tenant`);
    return k;
  };
  const setTeams = async (ctx: RequestContext, key: AccessKeyRow, teamIds: string[], action: string, teamId: string): Promise<void> => {
    // A key's teams decide what it may read and reveal: changing them is managing the key, which
    // goes downwards only, as for renaming and revoking (access-keys-service.ts).
    if (!canGrant(ctx.principal.role, key.role as Role)) throw new LatchkeyError('FORBIDDEN', `Role ${ctx.principal.role} cannot manage a ${key.role} key`);
    await store.setAccessKeyTeams(ctx.principal.tenantId, key.id, teamIds, [
      audit.event(ctx, action, { type: 'team', id: teamId }, 'success', `access_key ${key.id}`),
    ]);
    deps.onMembershipChange(key.keyHash);
  };

  return {
    async create(ctx, input) {
      requirePermission(ctx, 'teams:manage');
      const slug = input.slug ?? teamSlugOf(input.name);
      if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(slug))
        throw new LatchkeyError('VALIDATION_FAILED', [{ path: 'slug', message: 'must be 1-63 of a-z, 0-9, _ and -, starting with a letter or digit' }]);
      const now = clock.now().toISOString();
      const team: TeamRow = { tenantId: ctx.principal.tenantId, id: newId('team'), slug, name: input.name, createdAt: now, updatedAt: now, revision: 1 };
      const r = await store.insertTeam(team.tenantId, team, [audit.event(ctx, 'team.create', { type: 'team', id: team.id })]);
      if (r === 'slug_taken') throw new LatchkeyError('CONFLICT', `Team slug ${slug} is taken`);
      directory.forget(team.tenantId);
      return team;
    },
    async list(ctx) {
      requirePermission(ctx, 'credentials:read');
      return directory.teamsOf(ctx.principal.tenantId);
    },
    async get(ctx, id) {
      requirePermission(ctx, 'credentials:read');
      return load(ctx, id);
    },
    async rename(ctx, id, name, expectedRevision) {
      requirePermission(ctx, 'teams:manage');
      const t = await load(ctx, id);
      if (expectedRevision !== undefined && expectedRevision !== t.revision) throw new LatchkeyError('PRECONDITION_FAILED', 'The team changed since that ETag');
      const next: TeamRow = { ...t, name, updatedAt: clock.now().toISOString(), revision: t.revision + 1 };
      const r = await store.updateTeam(t.tenantId, next, t.revision, [audit.event(ctx, 'team.update', { type: 'team', id })]);
      if (r !== 'updated') throw new LatchkeyError('PRECONDITION_FAILED', 'The team changed while this request ran');
      directory.forget(t.tenantId);
      return next;
    },
    async remove(ctx, id) {
      requirePermission(ctx, 'teams:manage');
      const r = await store.deleteTeam(ctx.principal.tenantId, id, clock.now().toISOString(), [audit.event(ctx, 'team.delete', { type: 'team', id })]);
      if (r === 'missing') throw notFound(id);
      if (r === 'in_use') throw new LatchkeyError('CONFLICT', 'Credentials or folders still belong to this team; move or delete them first');
      directory.forget(ctx.principal.tenantId);
    },
    async members(ctx, id) {
      requirePermission(ctx, 'teams:manage');
      await load(ctx, id);
      const { rows } = await store.listAccessKeys(ctx.principal.tenantId, {}, { limit: 10_000 });
      return rows.filter((k) => k.teamIds.includes(id));
    },
    async addMember(ctx, id, accessKeyId) {
      requirePermission(ctx, 'teams:manage');
      await load(ctx, id);
      const key = await loadKey(ctx, accessKeyId);
      if (!key.teamIds.includes(id)) await setTeams(ctx, key, [...key.teamIds, id], 'team.member_add', id);
    },
    async removeMember(ctx, id, accessKeyId) {
      requirePermission(ctx, 'teams:manage');
      await load(ctx, id);
      const key = await loadKey(ctx, accessKeyId);
      if (!key.teamIds.includes(id)) throw new LatchkeyError('NOT_FOUND', `Access key ${accessKeyId} is not a member of ${id}`);
      await setTeams(
        ctx,
        key,
        key.teamIds.filter((t) => t !== id),
        'team.member_remove',
        id,
      );
    },
    async createFolder(ctx, input) {
      requirePermission(ctx, 'teams:manage');
      await load(ctx, input.team_id).catch(() => {
        throw new LatchkeyError('VALIDATION_FAILED', [{ path: 'team_id', message: 'is not a team of this tenant' }]);
      });
      const now = clock.now().toISOString();
      const folder: FolderRow = { tenantId: ctx.principal.tenantId, id: newId('fld'), teamId: input.team_id, name: input.name, createdAt: now, updatedAt: now };
      const r = await store.insertFolder(folder.tenantId, folder, [audit.event(ctx, 'folder.create', { type: 'folder', id: folder.id })]);
      if (r === 'name_taken') throw new LatchkeyError('CONFLICT', 'That team already has a folder with this name');
      return folder;
    },
    async listFolders(ctx) {
      requirePermission(ctx, 'credentials:read');
      return store.listFolders(ctx.principal.tenantId);
    },
    async removeFolder(ctx, id) {
      requirePermission(ctx, 'teams:manage');
      const r = await store.deleteFolder(ctx.principal.tenantId, id, [audit.event(ctx, 'folder.delete', { type: 'folder', id })]);
      if (r === 'missing') throw new LatchkeyError('NOT_FOUND', `No folder ${id} in this tenant`);
      if (r === 'in_use') throw new LatchkeyError('CONFLICT', 'Credentials still belong to this folder');
    },
  };
}
