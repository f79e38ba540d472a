// Invalid UTF-8 in a request body was decoded with U+FFFD in place of the bad bytes, also inside
// secrets: the vault stored a secret other than the one sent. Every JSON body now goes through a
// fatal decoder: 400 MALFORMED_REQUEST in the envelope, and nothing stored.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../support/server.ts';
import { assertServerHoldsNoSecret, canary } from '../support/canary.ts';

let s: TestServer;
const secrets: string[] = [];

/** Byte sequences a strict UTF-8 decoder refuses (WHATWG Encoding, RFC 3629 §3-4). */
const INVALID: Record<string, number[]> = {
  'lone continuation byte': [0x80],
  'bytes that never occur': [0xff, 0xfe],
  'overlong "/"': [0xc0, 0xaf],
  'encoded surrogate U+D800': [0xed, 0xa0, 0x80],
  'truncated 3-byte sequence': [0xe2, 0x82],
  'beyond U+10FFFF': [0xf4, 0x90, 0x80, 0x80],
};

/** A JSON text with `bad` spliced into the secret string right after a canary. */
function bodyWith(template: (secretText: string) => string, bad: number[]): { body: Buffer; secret: string } {
  const secret = canary('utf8');
  secrets.push(secret);
  const [head, tail] = template(`${secret}@@BAD@@tail`).split('@@BAD@@') as [string, string];
  return { body: Buffer.concat([Buffer.from(head), Buffer.from(bad), Buffer.from(tail)]), secret };
}

async function post(path: string, body: Buffer, method = 'POST') {
  return s.request(method, path, { rawBody: body, headers: { 'content-type': 'application/json', 'x-tenantid': tenantId } });
}

let tenantId = '';

before(async () => {
  s = await startServer();
  tenantId = (await s.request('GET', '/v1/tenants')).body.data[0].id;
});

after(async () => {
  await s.stop();
});

describe('invalid UTF-8 in a JSON body → 400 MALFORMED_REQUEST, nothing stored', () => {
  it('native POST /v1/credentials refuses every invalid sequence inside a secret', async () => {
    for (const [what, bad] of Object.entries(INVALID)) {
      const { body } = bodyWith((v) => JSON.stringify({ name: `utf8 ${what}`, type: 'text', secret: { value: v } }), bad);
      const r = await post('/v1/credentials', body);
      assert.equal(r.status, 400, `${what}: ${r.text}`);
      assert.equal(r.body.error.code, 'MALFORMED_REQUEST', what);
      assert.match(r.body.error.details, /UTF-8/, what);
      assert.equal(typeof r.body.error.request_id, 'string');
    }
    const list = await s.request('GET', '/v1/credentials?per_page=100');
    assert.equal(list.body.data.filter((c: { name: string }) => c.name.startsWith('utf8 ')).length, 0, 'a credential was stored');
  });

  it('PATCH of a stored secret with invalid UTF-8 leaves the stored secret as it was', async () => {
    const original = canary('utf8-original');
    secrets.push(original);
    const c = await s.request('POST', '/v1/credentials', { body: { name: 'utf8 patch target', type: 'text', secret: { value: original } } });
    assert.equal(c.status, 201, c.text);
    const { body } = bodyWith((v) => JSON.stringify({ secret: { value: v } }), INVALID['bytes that never occur']!);
    const r = await post(`/v1/credentials/${c.body.id}`, body, 'PATCH');
    assert.equal(r.status, 400, r.text);
    assert.equal(r.body.error.code, 'MALFORMED_REQUEST');
    const reveal = await s.request('GET', `/v1/credentials/${c.body.id}/secret`);
    assert.equal(reveal.body.secret.value, original);
    assert.equal(reveal.body.version, 1);
    // Out of the way of the list checks: only the refused writes must have left nothing behind.
    assert.equal((await s.request('DELETE', `/v1/credentials/${c.body.id}`)).status, 204);
  });

  it('dialects refuse it too: integration-credentials and account-credentials POST, integration-metadata PATCH', async () => {
    const ic = bodyWith(
      (v) => JSON.stringify({ integrationId: 'utf8-int', credentialName: 'utf8 dialect', authType: 'text', accessToken: v }),
      INVALID['overlong "/"']!,
    );
    const r1 = await post('/compat/integration-credentials/api/v1/credentials', ic.body);
    assert.equal(r1.status, 400, r1.text);
    assert.equal(r1.body.error.code, 'MALFORMED_REQUEST');
    // The name is the only text this dialect takes: a bad byte there is refused the same way.
    const name = Buffer.concat([Buffer.from('{"name":"utf8 account '), Buffer.from([0xc3]), Buffer.from('","type":"api"}')]);
    const r2 = await post('/compat/account-credentials/v1/credentials', name);
    assert.equal(r2.status, 400, r2.text);
    assert.equal(r2.body.error.code, 'MALFORMED_REQUEST');
    // integration-metadata answers FastAPI's shape for any body it cannot decode (docs/dialects.md).
    const im = bodyWith((v) => JSON.stringify({ credentials: { password: v } }), INVALID['encoded surrogate U+D800']!);
    const r3 = await post('/compat/integration-metadata/integrations/credentials/crd_01J0000000000000000000000', im.body, 'PATCH');
    assert.equal(r3.status, 422, r3.text);
    assert.equal(r3.body.detail[0].type, 'json_invalid');
    const list = await s.request('GET', '/v1/credentials?per_page=100');
    assert.equal(list.body.data.filter((c: { name: string }) => c.name.startsWith('utf8 ')).length, 0);
  });

  it('valid multi-byte UTF-8 (2, 3 and 4 bytes) is stored and revealed byte for byte', async () => {
    const value = `${canary('utf8-valid')}-ä€😀`;
    secrets.push(value);
    const c = await post('/v1/credentials', Buffer.from(JSON.stringify({ name: 'utf8 valid', type: 'text', secret: { value } }), 'utf8'));
    assert.equal(c.status, 201, c.text);
    const reveal = await s.request('GET', `/v1/credentials/${c.body.id}/secret`);
    assert.equal(reveal.body.secret.value, value);
    assert.equal((await s.request('DELETE', `/v1/credentials/${c.body.id}`)).status, 204);
  });

  it('no form of any refused secret is in a response, the log, the audit log or the data files', async () => {
    // The valid and the patched-over secrets were stored on purpose; the refused ones never.
    await assertServerHoldsNoSecret(
      s,
      secrets.filter((x) => x.startsWith('utf8-') && !x.startsWith('utf8-original') && !x.startsWith('utf8-valid')),
    );
  });
});
