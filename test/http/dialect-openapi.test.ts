// Each dialect's own OpenAPI document (GET /compat/<dialect>/openapi.json), as a vendor's client
// generator would take it: a valid OpenAPI 3 document (checked by @readme/openapi-parser), with
// exactly the dialect's routes under the paths its source document names, response schemas that
// the dialect's real answers match field for field, and openapi-typescript able to generate from it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validate, compileErrors } from '@readme/openapi-parser';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import openapiTS, { astToString } from 'openapi-typescript';
import { startServer, type ApiResponse, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
let tenantId = '';
let serviceKey = '';
const ids = { smtp: '', oauth: '', sftp: '' };
const secrets: string[] = [];
const secret = (label: string) => {
  const v = canary(label);
  secrets.push(v);
  return v;
};

const ROUTES: Record<string, Record<string, string[]>> = {
  'service-credentials': { '/service-credentials/{type}/{id}': ['get'] },
  'user-credentials': { '/api/v1/user_credentials/{credential_id}': ['get'] },
  'account-credentials': { '/v1/credentials': ['get', 'post'], '/v1/credentials/{id}': ['delete', 'get', 'put'] },
  'integration-credentials': {
    '/api/v1/credentials': ['post'],
    '/api/v1/credentials/{integrationId}': ['get'],
    '/api/v1/credentials/{credentialId}': ['delete', 'patch'],
    '/api/v1/credentials/{credentialId}/rotate': ['post'],
  },
  'integration-metadata': {
    '/integrations/credentials': ['get'],
    '/integrations/credentials/{credential_id}': ['delete', 'get', 'patch'],
    '/integrations/credentials/{credential_id}/credentials': ['get'],
  },
};
const METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']);

async function native(method: string, path: string, body?: unknown, key?: string) {
  const r = await s.request(method, path, { body, key });
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${r.text}`);
  return r.body;
}

async function documentOf(dialect: string) {
  const r = await s.request('GET', `/compat/${dialect}/openapi.json`, { key: null });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers.get('content-type') ?? '', /application\/json/);
  return r.body;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats.default(ajv);
for (const format of ['display-name', 'display-text']) ajv.addFormat(format, true);

/** The real answer matches the document's schema for its status: every required field, and no field the schema does not list unless it admits others. */
function conforms(doc: any, path: string, method: string, r: ApiResponse) {
  const response = doc.paths[path][method].responses[String(r.status)];
  assert.ok(response, `${method} ${path} answered ${r.status}, which its document does not list`);
  const schema = response.content['application/json'].schema;
  assert.ok(ajv.validate(schema, r.body), `${method} ${path} ${r.status}: ${ajv.errorsText()} in ${r.text}`);
  const object = Array.isArray(r.body) ? r.body[0] : r.body;
  const shape = schema.type === 'array' ? schema.items : schema;
  for (const field of shape.required ?? []) assert.ok(field in object, `${method} ${path}: ${field} is required`);
  if (shape.additionalProperties === false || shape.additionalProperties === undefined) {
    for (const field of Object.keys(object)) assert.ok(field in shape.properties, `${method} ${path}: ${field} is not in the document`);
  }
}

before(async () => {
  s = await startServer();
  tenantId = (await native('GET', '/v1/tenants')).data[0].id;
  serviceKey = (await native('POST', '/v1/access-keys', { name: 'openapi service', role: 'service' })).key;
  ids.smtp = (
    await native('POST', '/v1/credentials', {
      name: 'Mailer',
      type: 'smtp',
      config: { host: 'smtp.example.com', port: 587, username: 'mailer', auth_type: 'login' },
      secret: { password: secret('smtp') },
    })
  ).id;
  ids.oauth = (
    await native('POST', '/v1/credentials', {
      name: 'CRM tokens',
      type: 'oauth2',
      integration_id: 'crm',
      config: { client_id: 'crm-client', token_endpoint: 'https://auth.example.com/token', grant_type: 'refresh_token', scopes: ['read'] },
      secret: { client_secret: secret('cs'), access_token: secret('at'), refresh_token: secret('rt') },
    })
  ).id;
  ids.sftp = (
    await native('POST', '/v1/credentials', {
      name: 'Drop box',
      type: 'sftp',
      config: { host: 'sftp.example.com', username: 'drop' },
      secret: { password: secret('sftp') },
    })
  ).id;
});
after(async () => {
  await assertServerHoldsNoSecret(s, secrets);
  await s.stop();
});

describe('GET /compat/<dialect>/openapi.json', () => {
  for (const [dialect, routes] of Object.entries(ROUTES)) {
    it(`${dialect}: a valid OpenAPI 3 document, public, with exactly the dialect's routes under its own base path`, async () => {
      const doc = await documentOf(dialect);
      const result = await validate(structuredClone(doc));
      assert.ok(result.valid, compileErrors(result));
      assert.match(doc.openapi, /^3\./);
      assert.deepEqual(doc.servers, [{ url: `/compat/${dialect}` }]);
      const listed = Object.fromEntries(
        Object.entries(doc.paths).map(([p, item]: [string, any]) => [
          p,
          Object.keys(item)
            .filter((m) => METHODS.has(m))
            .sort(),
        ]),
      );
      assert.deepEqual(listed, routes);
      for (const [path, methods] of Object.entries(routes)) {
        for (const method of methods) {
          const responses = doc.paths[path][method].responses;
          const success = Object.keys(responses).filter((code) => code.startsWith('2'));
          assert.equal(success.length, 1, `${method} ${path}: one success status`);
          assert.ok(
            Object.keys(responses).some((code) => code === '401'),
            `${method} ${path}: lists 401`,
          );
          for (const [code, response] of Object.entries(responses) as [string, any][]) {
            if (code === '204') continue;
            assert.ok(response.content?.['application/json']?.schema, `${method} ${path} ${code}: a response schema`);
          }
        }
      }
    });

    it(`${dialect}: openapi-typescript generates types with the document's paths`, async () => {
      const doc = await documentOf(dialect);
      const ts = astToString(await openapiTS(structuredClone(doc), { silent: true }));
      for (const path of Object.keys(routes)) assert.ok(ts.includes(`"${path}": {`), `${path} in the generated types`);
    });
  }

  it('the native /openapi.json is unchanged in scope: it still lists the dialects under /compat', async () => {
    const doc = (await s.request('GET', '/openapi.json', { key: null })).body;
    assert.ok(doc.paths['/compat/user-credentials/api/v1/user_credentials/{credential_id}']);
    assert.ok(doc.paths['/v1/credentials']);
    assert.equal(
      Object.keys(doc.paths).some((p) => p.endsWith('/openapi.json')),
      false,
    );
  });
});

describe('the dialects answer what their documents say', () => {
  it('service-credentials: GET and its 404 match the document', async () => {
    const doc = await documentOf('service-credentials');
    const path = '/service-credentials/{type}/{id}';
    conforms(doc, path, 'get', await s.request('GET', `/compat/service-credentials/service-credentials/smtp/${ids.smtp}`));
    const missing = await s.request('GET', '/compat/service-credentials/service-credentials/smtp/crd_nope');
    assert.equal(missing.status, 404);
    conforms(doc, path, 'get', missing);
  });

  it('user-credentials: GET matches, and the document says id, team_id and folder_id are strings where the sample has integers', async () => {
    const doc = await documentOf('user-credentials');
    const path = '/api/v1/user_credentials/{credential_id}';
    conforms(doc, path, 'get', await s.request('GET', `/compat/user-credentials${path.replace('{credential_id}', ids.smtp)}`));
    assert.match(doc.info.description, /`id`, `team_id` and `folder_id` are strings/);
    assert.match(doc.info.description, /sample shows integers/);
    const schema = doc.paths[path].get.responses['200'].content['application/json'].schema;
    assert.equal(schema.properties.id.type, 'string');
    assert.match(schema.properties.id.description, /not the integer of the sample/);
    for (const field of ['team_id', 'folder_id']) assert.match(schema.properties[field].description, /not the integer of the sample/);
    const ts = astToString(await openapiTS(structuredClone(doc), { silent: true }));
    assert.match(ts, /team_id: string \| null;/);
  });

  it('account-credentials: list, create (with its key once), get, update and delete match the document', async () => {
    const doc = await documentOf('account-credentials');
    const AC = '/compat/account-credentials';
    conforms(doc, '/v1/credentials', 'get', await s.request('GET', `${AC}/v1/credentials`));
    const created = await s.request('POST', `${AC}/v1/credentials`, { body: { name: 'Second mailer', type: 'smtp' } });
    conforms(doc, '/v1/credentials', 'post', created);
    secrets.push(created.body.key);
    conforms(doc, '/v1/credentials/{id}', 'get', await s.request('GET', `${AC}/v1/credentials/${created.body.id}`));
    conforms(doc, '/v1/credentials/{id}', 'put', await s.request('PUT', `${AC}/v1/credentials/${created.body.id}`, { body: { name: 'Mailer two' } }));
    const deleted = await s.request('DELETE', `${AC}/v1/credentials/${created.body.id}`);
    assert.equal(deleted.status, 204);
    assert.ok(doc.paths['/v1/credentials/{id}'].delete.responses['204']);
  });

  it('integration-credentials: the revealing GET and an error match the document, which declares x-tenantid', async () => {
    const doc = await documentOf('integration-credentials');
    const headers = { accept: 'application/json', 'x-tenantid': tenantId };
    const path = '/api/v1/credentials/{integrationId}';
    const r = await s.request('GET', '/compat/integration-credentials/api/v1/credentials/crm', { headers });
    assert.equal(r.status, 200, r.text);
    conforms(doc, path, 'get', r);
    conforms(doc, path, 'get', await s.request('GET', '/compat/integration-credentials/api/v1/credentials/none-such', { headers }));
    for (const [p, item] of Object.entries(doc.paths) as [string, any][]) {
      for (const [method, op] of Object.entries(item) as [string, any][]) {
        const header = op.parameters.find((x: any) => x.in === 'header' && x.name === 'x-tenantid');
        assert.equal(header?.required, true, `${method} ${p} declares x-tenantid`);
      }
    }
  });

  it('integration-metadata: list, get and the service-only secrets match the document', async () => {
    const doc = await documentOf('integration-metadata');
    const IM = '/compat/integration-metadata';
    const list = await s.request('GET', `${IM}/integrations/credentials`);
    conforms(doc, '/integrations/credentials', 'get', list);
    const id = list.body[0].id;
    conforms(doc, '/integrations/credentials/{credential_id}', 'get', await s.request('GET', `${IM}/integrations/credentials/${id}`));
    const revealed = await s.request('GET', `${IM}/integrations/credentials/${id}/credentials`, { key: serviceKey });
    assert.equal(revealed.status, 200, revealed.text);
    const schema = doc.paths['/integrations/credentials/{credential_id}/credentials'].get.responses['200'].content['application/json'].schema;
    assert.ok(ajv.validate(schema, revealed.body), ajv.errorsText());
    const refused = await s.request('GET', `${IM}/integrations/credentials/${id}/credentials`);
    assert.equal(refused.status, 403);
    conforms(doc, '/integrations/credentials/{credential_id}/credentials', 'get', refused);
  });
});
