import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Services } from '../../services/services.js';
import type { FolderRow, TeamRow } from '../../domain/records.js';
import { IdParams, Name, PathId, Slug, errorResponses } from '../schemas/common.js';
import { accessKeyView, etagOf, revisionFromIfMatch } from '../views.js';
import { AccessKeyView } from './access-keys.js';

const tags = ['teams'];
const TeamView = Type.Object({ id: Type.String(), slug: Type.String(), name: Type.String(), created_at: Type.String(), updated_at: Type.String() });
const FolderView = Type.Object({ id: Type.String(), team_id: Type.String(), name: Type.String(), created_at: Type.String(), updated_at: Type.String() });
const teamView = (t: TeamRow) => ({ id: t.id, slug: t.slug, name: t.name, created_at: t.createdAt, updated_at: t.updatedAt });
const folderView = (f: FolderRow) => ({ id: f.id, team_id: f.teamId, name: f.name, created_at: f.createdAt, updated_at: f.updatedAt });
const MemberParams = Type.Object({ id: PathId, access_key_id: PathId }, { additionalProperties: false });

export function teamRoutes(s: Services): FastifyPluginAsync {
  return async (fastify) => {
    const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

    app.post(
      '/teams',
      {
        schema: {
          tags,
          summary: 'Create a team (slug defaults from the name and never changes)',
          body: Type.Object({ name: Name, slug: Type.Optional(Slug) }, { additionalProperties: false }),
          response: { 201: TeamView, ...errorResponses },
        },
      },
      async (request, reply) => {
        const t = await s.teams.create(request.ctx, request.body);
        return reply.code(201).header('etag', etagOf(t.revision)).send(teamView(t));
      },
    );

    app.get(
      '/teams',
      {
        schema: { tags, summary: "The tenant's teams", response: { 200: Type.Object({ data: Type.Array(TeamView) }), ...errorResponses } },
      },
      async (request) => ({ data: (await s.teams.list(request.ctx)).map(teamView) }),
    );

    app.get(
      '/teams/:id',
      {
        schema: { tags, summary: 'One team', params: IdParams, response: { 200: TeamView, ...errorResponses } },
      },
      async (request, reply) => {
        const t = await s.teams.get(request.ctx, request.params.id);
        return reply.header('etag', etagOf(t.revision)).send(teamView(t));
      },
    );

    app.patch(
      '/teams/:id',
      {
        schema: {
          tags,
          summary: 'Rename a team',
          params: IdParams,
          body: Type.Object({ name: Name }, { additionalProperties: false }),
          response: { 200: TeamView, ...errorResponses },
        },
      },
      async (request, reply) => {
        const t = await s.teams.rename(request.ctx, request.params.id, request.body.name, revisionFromIfMatch(request.headers['if-match']));
        return reply.header('etag', etagOf(t.revision)).send(teamView(t));
      },
    );

    app.delete(
      '/teams/:id',
      {
        schema: { tags, summary: 'Delete a team that no credential or folder uses', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (request, reply) => {
        await s.teams.remove(request.ctx, request.params.id);
        return reply.code(204).send(null);
      },
    );

    app.get(
      '/teams/:id/members',
      {
        schema: {
          tags,
          summary: 'Access keys in the team',
          params: IdParams,
          response: { 200: Type.Object({ data: Type.Array(AccessKeyView) }), ...errorResponses },
        },
      },
      async (request) => ({ data: (await s.teams.members(request.ctx, request.params.id)).map(accessKeyView) }),
    );

    app.put(
      '/teams/:id/members/:access_key_id',
      {
        schema: { tags, summary: 'Add an access key to the team', params: MemberParams, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (request, reply) => {
        await s.teams.addMember(request.ctx, request.params.id, request.params.access_key_id);
        return reply.code(204).send(null);
      },
    );

    app.delete(
      '/teams/:id/members/:access_key_id',
      {
        schema: { tags, summary: 'Remove an access key from the team', params: MemberParams, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (request, reply) => {
        await s.teams.removeMember(request.ctx, request.params.id, request.params.access_key_id);
        return reply.code(204).send(null);
      },
    );

    app.post(
      '/folders',
      {
        schema: {
          tags,
          summary: 'Create a folder in a team',
          body: Type.Object({ name: Name, team_id: PathId }, { additionalProperties: false }),
          response: { 201: FolderView, ...errorResponses },
        },
      },
      async (request, reply) => reply.code(201).send(folderView(await s.teams.createFolder(request.ctx, request.body))),
    );

    app.get(
      '/folders',
      {
        schema: { tags, summary: "The tenant's folders", response: { 200: Type.Object({ data: Type.Array(FolderView) }), ...errorResponses } },
      },
      async (request) => ({ data: (await s.teams.listFolders(request.ctx)).map(folderView) }),
    );

    app.delete(
      '/folders/:id',
      {
        schema: { tags, summary: 'Delete an empty folder', params: IdParams, response: { 204: Type.Null(), ...errorResponses } },
      },
      async (request, reply) => {
        await s.teams.removeFolder(request.ctx, request.params.id);
        return reply.code(204).send(null);
      },
    );
  };
}
