import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { hostAllowed } from '../../src/services/proxy/allowed-hosts.js';
import { outsideRules } from '../../src/services/proxy/proxy-rules.js';
import { formsOf, SecretScrubber } from '../../src/services/proxy/scrub.js';

/*
 * The rules of the proxy that need no network: which targets `allowed_hosts` lets through (the
 * wildcard cases need names that do not resolve here), and the scrubber on answers split at
 * every byte. The HTTP behaviour is in test/http/proxy.test.ts.
 */

const allowed = (list: string[], url: string) => hostAllowed(list, new URL(url));

describe('allowed_hosts', () => {
  it('an exact name matches itself only', () => {
    assert.equal(allowed(['api.example.com'], 'https://api.example.com/x'), true);
    assert.equal(allowed(['API.Example.com'], 'https://api.EXAMPLE.com/x'), true);
    for (const url of [
      'https://example.com.evil.com/',
      'https://api.example.com.evil.com/',
      'https://xapi.example.com/',
      'https://api.example.com./',
      'https://evil.com/api.example.com',
    ]) {
      assert.equal(allowed(['api.example.com'], url), false, url);
    }
  });

  it('*.example.com is exactly one label in front', () => {
    assert.equal(allowed(['*.example.com'], 'https://eu.example.com/'), true);
    assert.equal(allowed(['*.example.com'], 'https://example.com/'), false);
    assert.equal(allowed(['*.example.com'], 'https://a.b.example.com/'), false);
    assert.equal(allowed(['*.example.com'], 'https://example.com.evil.com/'), false);
    assert.equal(allowed(['*.example.com'], 'https://evilexample.com/'), false);
  });

  it("a port only where the entry names it; the default port is the scheme's", () => {
    assert.equal(allowed(['api.example.com'], 'https://api.example.com:443/'), true);
    assert.equal(allowed(['api.example.com'], 'https://api.example.com:8443/'), false);
    assert.equal(allowed(['api.example.com:8443'], 'https://api.example.com:8443/'), true);
    assert.equal(allowed(['api.example.com:8443'], 'https://api.example.com/'), false);
    assert.equal(allowed(['api.example.com:443'], 'https://api.example.com/'), true);
  });

  it('an empty list allows nothing; an address matches only itself', () => {
    assert.equal(allowed([], 'https://api.example.com/'), false);
    assert.equal(allowed(['*.0.0.1'], 'https://127.0.0.1/'), false);
    assert.equal(allowed(['localhost'], 'https://127.0.0.1/'), false);
    assert.equal(allowed(['127.0.0.1'], 'https://2130706433/'), true, 'the URL parser normalizes the same address');
  });
});

describe('proxy_rules', () => {
  const outside = (rules: Parameters<typeof outsideRules>[0], method: string, url: string) => outsideRules(rules, method, new URL(url));
  it('no rules, or empty lists, allow everything', () => {
    assert.equal(outside({}, 'DELETE', 'https://x.test/anything'), null);
    assert.equal(outside({ methods: [], path_prefixes: [] }, 'PATCH', 'https://x.test/a'), null);
  });
  it('methods compare upper-cased', () => {
    assert.equal(outside({ methods: ['GET'] }, 'get', 'https://x.test/'), null);
    assert.match(outside({ methods: ['GET'] }, 'POST', 'https://x.test/') ?? '', /method POST/);
  });
  it('a path prefix matches at a segment boundary, after dot segments are resolved', () => {
    const rules = { path_prefixes: ['/v1/mail', '/v2/'] };
    for (const ok of ['https://x.test/v1/mail', 'https://x.test/v1/mail/send', 'https://x.test/v2/x', 'https://x.test/v1/x/../mail/send?q=/admin'])
      assert.equal(outside(rules, 'GET', ok), null, ok);
    for (const no of [
      'https://x.test/v1/mailbox',
      'https://x.test/v2',
      'https://x.test/v1/mail/../admin',
      'https://x.test/v1/mail/%2e%2e/admin',
      'https://x.test/v1/mail/..%2Fadmin',
      'https://x.test/v1/mail/x%5C..',
    ]) {
      assert.notEqual(outside(rules, 'GET', no), null, no);
    }
  });
});

describe('answer scrubbing', () => {
  it('replaces every form of a value, whatever the chunk boundaries', async () => {
    const secret = 'k3y-9f8e7d6c5b4a3928';
    const text = `a ${secret} b ${encodeURIComponent(secret)} c ${Buffer.from(secret).toString('hex')} d ${Buffer.from(`x:${secret}`).toString('base64')} e`;
    const forms = formsOf([secret]);
    for (let size = 1; size <= 9; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(Buffer.from(text.slice(i, i + size)));
      const out = (await buffer(Readable.from(chunks).pipe(new SecretScrubber(forms.bytes, 1 << 20)))).toString();
      assert.ok(!out.includes(secret) && !out.includes(Buffer.from(secret).toString('hex')), `chunks of ${size}: ${out}`);
      assert.ok(out.startsWith('a [REDACTED] b [REDACTED] c [REDACTED] d '), out);
      assert.ok(out.endsWith(' e'), out);
    }
  });
});
