import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadCatalog } from '../../src/catalog/catalog.js';
import type { ValidationIssue } from '../../src/catalog/catalog.js';

const REQUIRED_TYPES = [
  'smtp',
  'webhook',
  'mailgun',
  'sendgrid',
  'aws-ses',
  'postmark',
  'experian',
  'taxjar',
  'avalara',
  'oauth2',
  'text',
  'api_key',
  'basic',
  'jwt',
  'aws',
  'mtls',
  'http_request',
  'postgresql',
  'sftp',
  'binary',
];
const typesDir = fileURLToPath(new URL('../../src/catalog/types/', import.meta.url));
const catalog = loadCatalog();

function messagesAt(issues: ValidationIssue[], path: string): string[] {
  return issues.filter((i) => i.path === path).map((i) => i.message);
}

describe('catalog loading', () => {
  it('loads exactly the required types', () => {
    assert.deepEqual(
      catalog
        .list()
        .map((t) => t.id)
        .sort(),
      [...REQUIRED_TYPES].sort(),
    );
  });

  it('lists secret fields from the secret schema and keeps config and secret apart', () => {
    for (const type of catalog.list()) {
      assert.deepEqual(type.secretFields, Object.keys(type.secret.properties), type.id);
      for (const field of type.secretFields) assert.ok(!(field in type.config.properties), `${type.id}.${field}`);
      assert.equal(type.capabilities.generatable, type.generate !== null, type.id);
    }
    assert.deepEqual(catalog.get('smtp')?.secretFields, ['password']);
  });

  it('hands out a catalog that callers cannot change', () => {
    const smtp = catalog.get('smtp');
    assert.ok(smtp);
    assert.throws(() => {
      (smtp.config.properties as Record<string, unknown>)['port'] = {};
    }, TypeError);
  });

  it('compiles the config and secret schema of every shipped type (compiled on first use, so checked here)', () => {
    for (const t of catalog.list()) {
      assert.doesNotThrow(() => catalog.checkConfig(t.id, {}), `${t.id} config`);
      assert.doesNotThrow(() => catalog.checkSecret(t.id, {}), `${t.id} secret`);
    }
    assert.ok(catalog.list().length >= 10);
  });

  it('returns undefined for an unknown type and reports it on checks', () => {
    assert.equal(catalog.get('nope'), undefined);
    assert.equal(catalog.get('__proto__'), undefined);
    assert.deepEqual(catalog.checkConfig('nope', {}).issues, [{ path: 'type', message: 'is not a known credential type' }]);
    assert.deepEqual(catalog.checkSecret('nope', {}).issues, [{ path: 'type', message: 'is not a known credential type' }]);
    assert.deepEqual(catalog.checkRules('nope', {}, null), [{ path: 'type', message: 'is not a known credential type' }]);
    assert.equal(catalog.generateSecret('nope'), null);
  });

  describe('refuses a bad type file, naming it', () => {
    const smtpFile = JSON.parse(readFileSync(join(typesDir, 'smtp.json'), 'utf8')) as Record<string, unknown>;
    function loadWith(name: string, content: string): () => void {
      return () => {
        const dir = mkdtempSync(join(tmpdir(), 'latchkey-catalog-'));
        try {
          writeFileSync(join(dir, name), content);
          loadCatalog({ dir });
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      };
    }
    it('accepts a good copy (so the cases below fail for their own reason)', () => {
      assert.doesNotThrow(loadWith('smtp.json', JSON.stringify(smtpFile)));
    });
    it('broken JSON', () => {
      assert.throws(loadWith('smtp.json', '{ "id": '), /catalog: smtp\.json: not valid JSON/);
    });
    it('id not matching the file name', () => {
      assert.throws(loadWith('mail.json', JSON.stringify(smtpFile)), /catalog: mail\.json: id "smtp"/);
    });
    it('a missing top-level key', () => {
      const { injection: _dropped, ...rest } = smtpFile;
      assert.throws(loadWith('smtp.json', JSON.stringify(rest)), /catalog: smtp\.json: not a valid type file/);
    });
    it('a string without maxLength', () => {
      const bad = structuredClone(smtpFile) as { config: { properties: { username: Record<string, unknown> } } };
      delete bad.config.properties.username['maxLength'];
      assert.throws(loadWith('smtp.json', JSON.stringify(bad)), /smtp\.json: .*config\.username: string without maxLength/);
    });
    it('generatable without generate', () => {
      const bad = structuredClone(smtpFile) as { capabilities: { generatable: boolean } };
      bad.capabilities.generatable = true;
      assert.throws(loadWith('smtp.json', JSON.stringify(bad)), /smtp\.json: .*generatable/);
    });
    it('no aim_fields (every type must say where its secret may go, even if nowhere)', () => {
      const { aim_fields: _dropped, ...rest } = smtpFile;
      assert.throws(loadWith('smtp.json', JSON.stringify(rest)), /catalog: smtp\.json: not a valid type file/);
    });
    it('an aim field that is not a config field', () => {
      const bad = { ...smtpFile, aim_fields: ['host', 'password'] };
      assert.throws(loadWith('smtp.json', JSON.stringify(bad)), /smtp\.json: .*aim_fields names "password", which is not a config field/);
    });
    it('a rule naming an unknown field', () => {
      const bad = { ...smtpFile, rules: [{ require: ['secret.pasword'] }] };
      assert.throws(loadWith('smtp.json', JSON.stringify(bad)), /smtp\.json: .*unknown field "secret\.pasword"/);
    });
    it('a schema Ajv refuses (an unknown keyword), reported on its first use', () => {
      const bad = structuredClone(smtpFile) as { config: { properties: { username: Record<string, unknown> } } };
      bad.config.properties.username['maxLenght'] = 5;
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-catalog-'));
      try {
        writeFileSync(join(dir, 'smtp.json'), JSON.stringify(bad));
        const loaded = loadCatalog({ dir });
        assert.throws(() => loaded.checkConfig('smtp', { host: 'h.example' }), /catalog: smtp\.json: schema does not compile/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
    it('an empty folder', () => {
      const dir = mkdtempSync(join(tmpdir(), 'latchkey-catalog-'));
      try {
        assert.throws(() => loadCatalog({ dir }), /no credential type files/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});

describe('checkConfig', () => {
  it('applies smtp defaults without touching the input', () => {
    const input = { host: 'smtp.example.com' };
    const { value, issues } = catalog.checkConfig('smtp', input);
    assert.deepEqual(issues, []);
    assert.deepEqual(value, { host: 'smtp.example.com', port: 25, encryption: 'none', auth_type: 'none' });
    assert.deepEqual(input, { host: 'smtp.example.com' });
    assert.notEqual(value, input);
  });

  it('gives each call its own default objects', () => {
    const a = catalog.checkConfig('oauth2', { client_id: 'c', token_endpoint: 'https://x.test/t', grant_type: 'client_credentials' });
    const b = catalog.checkConfig('oauth2', { client_id: 'c', token_endpoint: 'https://x.test/t', grant_type: 'client_credentials' });
    assert.deepEqual(a.issues, []);
    assert.deepEqual(a.value['scopes'], []);
    assert.notEqual(a.value['scopes'], b.value['scopes']);
  });

  it('refuses port 0 and 70000 with the field path', () => {
    assert.deepEqual(catalog.checkConfig('smtp', { host: 'h.example', port: 0 }).issues, [{ path: 'config.port', message: 'must be >= 1' }]);
    assert.deepEqual(catalog.checkConfig('smtp', { host: 'h.example', port: 70000 }).issues, [{ path: 'config.port', message: 'must be <= 65535' }]);
    assert.deepEqual(catalog.checkConfig('smtp', { host: 'h.example', port: 25.5 }).issues, [{ path: 'config.port', message: 'must be an integer' }]);
    assert.deepEqual(catalog.checkConfig('smtp', { host: 'h.example', port: 65535 }).issues, []);
  });

  it('refuses unknown fields, and says where a misplaced secret belongs', () => {
    const { issues } = catalog.checkConfig('smtp', { host: 'h.example', colour: 'blue', password: 'hunter22' });
    assert.deepEqual(messagesAt(issues, 'config.colour'), ['is not allowed']);
    assert.deepEqual(messagesAt(issues, 'config.password'), ['is not allowed in config: it belongs in secret']);
    assert.ok(!JSON.stringify(issues).includes('hunter22'));
  });

  it('keeps a __proto__ key as data and refuses it', () => {
    const input = JSON.parse('{"host":"h.example","__proto__":{"polluted":true}}') as unknown;
    const { value, issues } = catalog.checkConfig('smtp', input);
    assert.deepEqual(messagesAt(issues, 'config.__proto__'), ['is not allowed']);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal((value as { polluted?: unknown }).polluted, undefined);
  });

  it('names required fields, enums and bad hosts', () => {
    const { issues } = catalog.checkConfig('smtp', { port: 25, encryption: 'starttls' });
    assert.deepEqual(messagesAt(issues, 'config.host'), ['is required']);
    assert.deepEqual(messagesAt(issues, 'config.encryption'), ['must be one of: none, tls, ssl']);
    assert.deepEqual(messagesAt(catalog.checkConfig('smtp', { host: '' }).issues, 'config.host')[0], 'must not be empty');
    assert.deepEqual(messagesAt(catalog.checkConfig('smtp', { host: 'bad host!' }).issues, 'config.host'), ['must be a valid host name or IP address']);
    for (const host of ['10.0.0.1', '::1', 'smtp_relay', 'mail.example.com.']) {
      assert.deepEqual(catalog.checkConfig('smtp', { host }).issues, [], host);
    }
  });

  it('refuses a config that is not an object', () => {
    for (const input of [null, [], 'smtp', 3]) {
      assert.deepEqual(catalog.checkConfig('smtp', input).issues, [{ path: 'config', message: 'must be an object' }]);
    }
  });

  it('writes array indices into nested paths', () => {
    const { issues } = catalog.checkConfig('http_request', {
      requests: [{ url: 'https://idp.example/token' }, { url: 'https://idp.example/x', method: 'TRACE' }],
    });
    assert.deepEqual(issues, [{ path: 'config.requests[1].method', message: 'must be one of: GET, POST, PUT, PATCH, DELETE' }]);
  });

  it('requires what each aws authentication type needs', () => {
    assert.deepEqual(catalog.checkConfig('aws', {}).issues, [{ path: 'config.access_key_id', message: 'is required' }]);
    assert.deepEqual(catalog.checkConfig('aws', { authentication_type: 'ROLE' }).issues, [{ path: 'config.role_arn', message: 'is required' }]);
    assert.deepEqual(catalog.checkConfig('aws', { authentication_type: 'INSTANCE_PROFILE' }).issues, []);
  });
});

describe('checkRules', () => {
  it('smtp with a login mechanism needs a username and a password', () => {
    const config = catalog.checkConfig('smtp', { host: 'h.example', auth_type: 'login' });
    assert.deepEqual(config.issues, [{ path: 'config.username', message: 'is required' }]);
    assert.deepEqual(catalog.checkRules('smtp', { host: 'h.example', auth_type: 'login', username: 'u' }, {}), [
      { path: 'secret.password', message: 'is required when config.auth_type is not none' },
    ]);
    assert.deepEqual(catalog.checkRules('smtp', { host: 'h.example', auth_type: 'login', username: 'u' }, { password: '' }), [
      { path: 'secret.password', message: 'is required when config.auth_type is not none' },
    ]);
    assert.deepEqual(catalog.checkRules('smtp', { host: 'h.example', auth_type: 'login', username: 'u' }, { password: 'p' }), []);
  });

  it('smtp without auth needs neither', () => {
    assert.deepEqual(catalog.checkConfig('smtp', { host: 'h.example' }).issues, []);
    assert.deepEqual(catalog.checkRules('smtp', { host: 'h.example', auth_type: 'none' }, {}), []);
    // absent auth_type is its default, none
    assert.deepEqual(catalog.checkRules('smtp', { host: 'h.example' }, {}), []);
  });

  it('skips secret-side requirements when the secret is unchanged (null)', () => {
    assert.deepEqual(catalog.checkRules('smtp', { host: 'h.example', auth_type: 'plain', username: 'u' }, null), []);
    assert.deepEqual(catalog.checkRules('sftp', { host: 'h.example', username: 'u' }, null), []);
  });

  it('aws KEY needs the secret key, reading the default when authentication_type is absent', () => {
    assert.deepEqual(catalog.checkRules('aws', { access_key_id: 'AKIAABCDEFGHIJKLMNOP' }, {}), [
      { path: 'secret.secret_access_key', message: 'is required when config.authentication_type is KEY' },
    ]);
    assert.deepEqual(catalog.checkRules('aws', { authentication_type: 'ROLE', role_arn: 'arn:aws:iam::123456789012:role/x' }, {}), []);
  });

  it('sftp needs a password or a private key', () => {
    assert.deepEqual(catalog.checkRules('sftp', { host: 'h.example', username: 'u' }, {}), [
      { path: 'secret', message: 'must include one of: password, private_key' },
    ]);
    assert.deepEqual(catalog.checkRules('sftp', { host: 'h.example', username: 'u' }, { password: 'p' }), []);
  });
});

describe('checkSecret', () => {
  it('never puts a refused secret value into an issue', () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['sendgrid', { api_key: 'not-a-sendgrid-key-7f3a9c' }], // pattern
      ['smtp', { password: 'x'.repeat(5000) + 'tail-7f3a9c' }], // maxLength
      ['api_key', { value: 'abc\r\nX-Injected: 7f3a9c' }], // pattern (CRLF)
      ['mtls', { private_key: 'just-a-string-7f3a9c' }], // pattern
      ['basic', { password: 'p', passwd: 'typo-7f3a9c' }], // additional property
      ['text', { value: ['nested-7f3a9c'] }], // type
    ];
    for (const [typeId, secret] of cases) {
      const { issues } = catalog.checkSecret(typeId, secret);
      assert.ok(issues.length > 0, `${typeId} should refuse ${JSON.stringify(Object.keys(secret))}`);
      assert.ok(!JSON.stringify(issues).includes('7f3a9c'), `${typeId}: ${JSON.stringify(issues)}`);
    }
  });

  it('reports secret issues under secret.', () => {
    assert.deepEqual(catalog.checkSecret('text', { value: '' }).issues, [{ path: 'secret.value', message: 'must not be empty' }]);
    assert.deepEqual(catalog.checkSecret('text', {}).issues, [{ path: 'secret.value', message: 'is required' }]);
    assert.deepEqual(catalog.checkSecret('smtp', { host: 'h' }).issues, [{ path: 'secret.host', message: 'is not allowed in secret: it belongs in config' }]);
  });
});

describe('generateSecret', () => {
  it('makes a whsec_ webhook secret, new each call, that passes its own schema', () => {
    const a = catalog.generateSecret('webhook');
    const b = catalog.generateSecret('webhook');
    assert.ok(a && b);
    assert.deepEqual(Object.keys(a), ['signing_secret']);
    assert.match(a['signing_secret'] ?? '', /^whsec_[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a['signing_secret'], b['signing_secret']);
    assert.deepEqual(catalog.checkSecret('webhook', a).issues, []);
  });

  it('makes secrets for every generatable type and none for the rest', () => {
    for (const type of catalog.list()) {
      const secret = catalog.generateSecret(type.id);
      if (!type.capabilities.generatable) {
        assert.equal(secret, null, type.id);
        continue;
      }
      assert.ok(secret, type.id);
      assert.deepEqual(catalog.checkSecret(type.id, secret).issues, [], type.id);
    }
    assert.deepEqual(
      catalog
        .list()
        .filter((t) => t.capabilities.generatable)
        .map((t) => t.id)
        .sort(),
      ['api_key', 'text', 'webhook'],
    );
  });
});
