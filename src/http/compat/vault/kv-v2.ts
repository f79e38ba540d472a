/**
 * KV version 2 on the `secret/` mount (docs/compat.md): a path is a credential name, a version is
 * a native version number. Every call is a native service call.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../../domain/clock.js';
import type { RequestContext } from '../../../domain/principal.js';
import type { Services } from '../../../services/services.js';
import type { CredentialRow, VersionRow } from '../../../domain/records.js';
import { NO_STORE } from '../../dialects/credential-lookup.js';
import { credentialByName, SECRET_NAME_RE, secretAsData, secretFromData, stringMetadata, visibleCredentials } from '../secret-documents.js';
import { vaultBadRequest, vaultNotFound, vaultResponse } from './vault-envelope.js';

/** A new value keeps the one before readable by version for the longest native grace (30 days). */
const PREVIOUS_GRACE_SECONDS = 30 * 86_400;

const tags = ['dialect: vault'];

function pathOf(request: FastifyRequest): string {
  const path = ((request.params as Record<string, string>)['*'] ?? '').replace(/\/+$/, '');
  if (!SECRET_NAME_RE.test(path)) throw vaultBadRequest('a path is 1-200 characters of A-Z a-z 0-9 / _ + = . @ -');
  return path;
}

function objectBody(request: FastifyRequest): Record<string, unknown> {
  const b = request.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw vaultBadRequest('the body must be a JSON object');
  return b as Record<string, unknown>;
}

function versionsParam(body: Record<string, unknown>): number[] {
  const v = body.versions;
  if (!Array.isArray(v) || v.length === 0 || !v.every((n) => Number.isInteger(n) && (n as number) > 0)) throw vaultBadRequest('no version number provided');
  return v as number[];
}

function readable(v: VersionRow, now: string): boolean {
  return v.stage === 'current' || v.stage === 'pending' || (v.stage === 'previous' && v.expiresAt !== null && v.expiresAt > now);
}

function versionMetadata(c: CredentialRow, v: { version: number; createdAt: string }): Record<string, unknown> {
  return { created_time: v.createdAt, custom_metadata: stringMetadata(c), deletion_time: '', destroyed: false, version: v.version };
}

async function live(s: Services, ctx: RequestContext, path: string): Promise<CredentialRow> {
  const c = await credentialByName(s, ctx, path);
  if (!c) throw vaultNotFound();
  return c;
}

export function kvV2Routes(app: FastifyInstance, s: Services, clock: Clock): void {
  const send = (request: FastifyRequest, reply: FastifyReply, data: unknown, secret = false): FastifyReply => {
    if (secret) void reply.headers(NO_STORE);
    return reply.code(200).send(vaultResponse(request.id, data, { mount_type: 'kv' }));
  };

  app.get('/v1/secret/data/*', { config: { public: true }, schema: { tags, summary: 'KV v2: read a secret (?version=N)' } }, async (request, reply) => {
    const path = pathOf(request);
    const q = request.query as Record<string, string | undefined>;
    const version = q.version === undefined || q.version === '0' ? undefined : Number(q.version);
    if (version !== undefined && !(Number.isInteger(version) && version > 0)) throw vaultBadRequest('version must be a positive integer');
    const c = await live(s, request.ctx, path);
    const revealed = await s.credentials.reveal(request.ctx, c.id, {
      variant: 'main',
      allowInactive: false,
      ...(version !== undefined && version !== c.version ? { version } : {}),
    });
    const v =
      version === undefined || version === c.version ? { version: c.version, createdAt: c.updatedAt } : await s.credentials.version(request.ctx, c.id, version);
    return send(request, reply, { data: secretAsData(c, revealed.secret), metadata: versionMetadata(c, v) }, true);
  });

  const write = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = pathOf(request);
    const body = objectBody(request);
    const data = body.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw vaultBadRequest('no data provided');
    const options = (body.options ?? {}) as Record<string, unknown>;
    const cas = options.cas;
    if (cas !== undefined && !(Number.isInteger(cas) && (cas as number) >= 0)) throw vaultBadRequest('cas must be a non-negative integer');
    const existing = await credentialByName(s, request.ctx, path);
    if (cas !== undefined && (existing?.version ?? 0) !== cas) throw vaultBadRequest('check-and-set parameter did not match the current version');
    let c: CredentialRow;
    if (!existing) {
      c = (await s.credentials.create(request.ctx, { name: path, type: 'text', secret: secretFromData('text', data as Record<string, unknown>) })).credential;
    } else {
      c = (
        await s.credentials.rotate(request.ctx, existing.id, {
          secret: secretFromData(existing.type, data as Record<string, unknown>),
          gracePeriodSeconds: PREVIOUS_GRACE_SECONDS,
        })
      ).credential;
    }
    return send(request, reply, versionMetadata(c, { version: c.version, createdAt: c.updatedAt }));
  };
  app.post('/v1/secret/data/*', { config: { public: true }, schema: { tags, summary: 'KV v2: write a new version (options.cas)' } }, write);
  app.put('/v1/secret/data/*', { config: { public: true }, schema: { tags, summary: 'KV v2: write a new version (options.cas)' } }, write);

  app.delete(
    '/v1/secret/data/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: soft-delete the secret (restorable with undelete)' } },
    async (request, reply) => {
      const c = await live(s, request.ctx, pathOf(request));
      await s.credentials.remove(request.ctx, c.id, { purge: false });
      return reply.code(204).send();
    },
  );

  const softDelete = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const c = await live(s, request.ctx, pathOf(request));
    if (!versionsParam(objectBody(request)).includes(c.version)) {
      throw vaultBadRequest(`Latchkey deletes a secret as a whole: name its current version (${c.version}) among versions`);
    }
    await s.credentials.remove(request.ctx, c.id, { purge: false });
    return reply.code(204).send();
  };
  app.post(
    '/v1/secret/delete/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: soft-delete (the current version must be named)' } },
    softDelete,
  );
  app.put('/v1/secret/delete/*', { config: { public: true }, schema: { tags, summary: 'KV v2: soft-delete (the current version must be named)' } }, softDelete);

  const undelete = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const path = pathOf(request);
    versionsParam(objectBody(request));
    await s.restoreByName(request.ctx, path);
    return reply.code(204).send();
  };
  app.post('/v1/secret/undelete/*', { config: { public: true }, schema: { tags, summary: 'KV v2: restore a soft-deleted secret' } }, undelete);
  app.put('/v1/secret/undelete/*', { config: { public: true }, schema: { tags, summary: 'KV v2: restore a soft-deleted secret' } }, undelete);

  const destroy = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const c = await live(s, request.ctx, pathOf(request));
    const asked = new Set(versionsParam(objectBody(request)));
    const all = (await s.credentials.versions(request.ctx, c.id)).map((v) => v.version);
    // Key material goes for good only with the credential (the native purge, owners only).
    if (!all.every((n) => asked.has(n))) throw vaultBadRequest(`Latchkey destroys a secret as a whole: name every version (${all.join(', ')})`);
    await s.credentials.remove(request.ctx, c.id, { purge: true });
    return reply.code(204).send();
  };
  app.post(
    '/v1/secret/destroy/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: destroy (every version must be named; owners only)' } },
    destroy,
  );
  app.put(
    '/v1/secret/destroy/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: destroy (every version must be named; owners only)' } },
    destroy,
  );

  app.get(
    '/v1/secret/metadata/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: read metadata, or list keys with ?list=true' } },
    async (request, reply) => {
      const q = request.query as Record<string, string | undefined>;
      if (q.list === 'true' || q.list === '1') return list(request, reply);
      const c = await live(s, request.ctx, pathOf(request));
      const now = clock.now().toISOString();
      const versions = await s.credentials.versions(request.ctx, c.id);
      const byNumber: Record<string, unknown> = {};
      for (const v of versions) {
        // A version past its grace period can no longer be read: Vault's word for that is destroyed.
        byNumber[String(v.version)] = { created_time: v.createdAt, deletion_time: '', destroyed: !readable(v, now) };
      }
      return send(request, reply, {
        cas_required: false,
        created_time: c.createdAt,
        current_version: c.version,
        custom_metadata: stringMetadata(c),
        delete_version_after: '0s',
        max_versions: 0,
        oldest_version: Math.min(...versions.map((v) => v.version)),
        updated_time: c.updatedAt,
        versions: byNumber,
      });
    },
  );

  async function list(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const raw = ((request.params as Record<string, string>)['*'] ?? '').replace(/\/+$/, '');
    if (raw !== '' && !SECRET_NAME_RE.test(raw)) throw vaultBadRequest('a path is 1-200 characters of A-Z a-z 0-9 / _ + = . @ -');
    const prefix = raw === '' ? '' : `${raw}/`;
    const keys = new Set<string>();
    for await (const c of visibleCredentials(s, request.ctx, prefix === '' ? {} : { name: prefix })) {
      if (!c.name.startsWith(prefix)) continue;
      const rest = c.name.slice(prefix.length);
      const slash = rest.indexOf('/');
      keys.add(slash === -1 ? rest : rest.slice(0, slash + 1));
    }
    if (keys.size === 0) throw vaultNotFound();
    return send(request, reply, { keys: [...keys].sort() });
  }

  const writeMetadata = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const c = await live(s, request.ctx, pathOf(request));
    const body = objectBody(request);
    const known = new Set(['max_versions', 'cas_required', 'delete_version_after', 'custom_metadata']);
    const unknown = Object.keys(body).filter((k) => !known.has(k));
    if (unknown.length > 0) throw vaultBadRequest(`unknown fields: ${unknown.join(', ')}`);
    // Settings Latchkey would store but not enforce are refused, not accepted and ignored.
    if (body.max_versions !== undefined && body.max_versions !== 0) throw vaultBadRequest('max_versions: Latchkey keeps every version (only 0 is accepted)');
    if (body.cas_required !== undefined && body.cas_required !== false)
      throw vaultBadRequest('cas_required: not supported (send options.cas on each write instead)');
    if (body.delete_version_after !== undefined && body.delete_version_after !== '0s' && body.delete_version_after !== 0)
      throw vaultBadRequest('delete_version_after: not supported');
    const custom = body.custom_metadata;
    if (custom !== undefined) {
      if (typeof custom !== 'object' || custom === null || Array.isArray(custom) || !Object.values(custom).every((v) => typeof v === 'string')) {
        throw vaultBadRequest('custom_metadata must be an object of strings');
      }
      // Vault replaces custom metadata as a whole; non-string native metadata is kept.
      const kept = Object.fromEntries(Object.entries(c.metadata).filter(([, v]) => typeof v !== 'string'));
      await s.credentials.update(request.ctx, c.id, { metadata: { ...kept, ...(custom as Record<string, string>) } });
    }
    return reply.code(204).send();
  };
  app.post('/v1/secret/metadata/*', { config: { public: true }, schema: { tags, summary: 'KV v2: custom_metadata (max_versions 0 only)' } }, writeMetadata);
  app.put('/v1/secret/metadata/*', { config: { public: true }, schema: { tags, summary: 'KV v2: custom_metadata (max_versions 0 only)' } }, writeMetadata);

  app.delete(
    '/v1/secret/metadata/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: delete every version and the metadata (the native purge, owners only)' } },
    async (request, reply) => {
      // A soft-deleted secret is not found here: undelete it first, or purge it natively by id.
      const c = await live(s, request.ctx, pathOf(request));
      await s.credentials.remove(request.ctx, c.id, { purge: true });
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/secret/subkeys/*',
    { config: { public: true }, schema: { tags, summary: 'KV v2: the keys of a secret, values null (an audited reveal inside the server)' } },
    async (request, reply) => {
      const c = await live(s, request.ctx, pathOf(request));
      const q = request.query as Record<string, string | undefined>;
      const depth = q.depth === undefined ? 0 : Number(q.depth);
      if (!(Number.isInteger(depth) && depth >= 0)) throw vaultBadRequest('depth must be a non-negative integer');
      const revealed = await s.credentials.reveal(request.ctx, c.id, { variant: 'main', allowInactive: false });
      return send(request, reply, {
        subkeys: shape(secretAsData(c, revealed.secret), depth, 1),
        metadata: versionMetadata(c, { version: c.version, createdAt: c.updatedAt }),
      });
    },
  );
}

/** Vault's subkeys: the same object with every leaf null, down to `depth` levels (0: all). */
function shape(o: Record<string, unknown>, depth: number, level: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    out[k] =
      typeof v === 'object' && v !== null && !Array.isArray(v) && (depth === 0 || level < depth) ? shape(v as Record<string, unknown>, depth, level + 1) : null;
  }
  return out;
}
