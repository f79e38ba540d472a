import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodingsOf } from '../support/canary.ts';

// The hostile suite's scanner must itself find a secret wrapped the ways attackers got one out.
describe('canary scanner', () => {
  it('finds a secret in base64 and base64url inside AUTH PLAIN, Basic and at every alignment', () => {
    const s = 'canary-0123456789abcdef01';
    const forms = encodingsOf(s);
    for (const wrapped of [`\0mailer\0${s}`, `mailer:${s}`, `x${s}yz`, `ab${s}`, s]) {
      for (const enc of ['base64', 'base64url'] as const) {
        const encoded = Buffer.from(wrapped).toString(enc);
        assert.ok(
          forms.some((f) => encoded.includes(f)),
          `${enc} of ${JSON.stringify(wrapped)}`,
        );
      }
    }
    assert.ok(forms.includes(Buffer.from(s).toString('hex')));
    assert.ok(encodingsOf('p@ss w/rd+0123456789').includes('p%40ss%20w%2Frd%2B0123456789'));
  });
});
