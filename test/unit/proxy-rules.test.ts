import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { hostAllowed } from '../../src/services/proxy/allowed-hosts.js';
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
    for (const url of ['https://example.com.evil.com/', 'https://api.example.com.evil.com/', 'https://xapi.example.com/', 'https://api.example.com./', 'https://evil.com/api.example.com']) {
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

  it('a port only where the entry names it; the default port is the scheme\'s', () => {
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

describe('answer scrubbing', () => {
  it('replaces every form of a value, whatever the chunk boundaries', async () => {
    const secret = 'k3y-9f8e7d6c5b4a3928';
    const text = `a ${secret} b ${encodeURIComponent(secret)} c ${Buffer.from(secret).toString('hex')} d ${Buffer.from(`x:${secret}`).toString('base64')} e`;
    const forms = formsOf([secret]);
    for (let size = 1; size <= 9; size++) {
      const chunks: Buffer[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(Buffer.from(text.slice(i, i + size)));
      const out = (await buffer(Readable.from(chunks).pipe(new SecretScrubber(forms)))).toString();
      assert.ok(!out.includes(secret) && !out.includes(Buffer.from(secret).toString('hex')), `chunks of ${size}: ${out}`);
      assert.ok(out.startsWith('a [REDACTED] b [REDACTED] c [REDACTED] d '), out);
      assert.ok(out.endsWith(' e'), out);
    }
  });
});
