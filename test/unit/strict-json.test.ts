import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { JsonRejected, MAX_JSON_DEPTH, parseStrictJson, parseStrictJsonBody } from '../../src/http/strict-json.js';

type Reason = JsonRejected['reason'];

function rejection(text: string): JsonRejected {
  try {
    parseStrictJson(text);
  } catch (err) {
    assert.ok(err instanceof JsonRejected, `expected JsonRejected, got ${String(err)}`);
    return err;
  }
  assert.fail(`expected rejection for ${JSON.stringify(text)}`);
}

function assertRejected(text: string, reason: Reason): JsonRejected {
  const err = rejection(text);
  assert.equal(err.reason, reason, `${JSON.stringify(text)}: ${err.message}`);
  return err;
}

function nestedArrays(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

function nestedObjects(depth: number): string {
  return '{"a":'.repeat(depth - 1) + '{}' + '}'.repeat(depth - 1);
}

const FORBIDDEN = new Set(['__proto__', 'constructor', 'prototype']);

function hasForbiddenKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasForbiddenKey);
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).some(([k, x]) => FORBIDDEN.has(k) || hasForbiddenKey(x));
  }
  return false;
}

/** Independent oracle for lone surrogates: with the `u` flag, only unpaired surrogates match \p{Cs}. */
const LONE_SURROGATE = /\p{Cs}/u;

function hasLoneSurrogate(v: unknown): boolean {
  if (typeof v === 'string') return LONE_SURROGATE.test(v);
  if (Array.isArray(v)) return v.some(hasLoneSurrogate);
  if (v !== null && typeof v === 'object') {
    return Object.entries(v).some(([k, x]) => LONE_SURROGATE.test(k) || hasLoneSurrogate(x));
  }
  return false;
}

describe('parseStrictJson: valid documents', () => {
  const valid = [
    '{}',
    '[]',
    '0',
    '-0',
    '1.5e-10',
    '-12.75E+3',
    '1E5',
    'true',
    'false',
    'null',
    '""',
    '"plain"',
    '"esc \\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00e9"',
    '"\\ud83d\\ude00"',
    '"😀 raw pair"',
    ' \t\r\n{"a" : [1, 2, {"b": null}], "c": "d"} \n',
    '{"a":{"a":1},"b":{"a":1}}',
    '[{"a":1},{"a":1}]',
    '{"":1,"x":{"":2}}',
    '{"__proto":1,"constructors":2,"Prototype":3,"proto":4}',
    '"\\u005f_proto__ as a value is fine"',
    '["__proto__", "constructor"]',
    '"\u007f\u0080\u2028"',
  ];
  for (const text of valid) {
    it(`accepts ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parseStrictJson(text), JSON.parse(text));
    });
  }

  it(`accepts ${MAX_JSON_DEPTH}-deep arrays and objects`, () => {
    assert.equal(MAX_JSON_DEPTH, 32);
    assert.deepEqual(parseStrictJson(nestedArrays(32)), JSON.parse(nestedArrays(32)));
    assert.deepEqual(parseStrictJson(nestedObjects(32)), JSON.parse(nestedObjects(32)));
    assert.deepEqual(parseStrictJson('[[[1]],[[2]]]'), [[[1]], [[2]]]);
  });

  it('returns plain objects without prototype surprises', () => {
    const v = parseStrictJson('{"a":{"b":[1]}}') as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(v), Object.prototype);
    assert.deepEqual(v, { a: { b: [1] } });
  });
});

describe('parseStrictJson: rejections', () => {
  const cases: [string, string, Reason][] = [
    ['empty input', '', 'malformed'],
    ['whitespace only', ' \n\t ', 'malformed'],
    ['trailing comma in array', '[1,2,]', 'malformed'],
    ['trailing comma in object', '{"a":1,}', 'malformed'],
    ['single quotes', "{'a':1}", 'malformed'],
    ['single-quoted string', "'a'", 'malformed'],
    ['NaN', 'NaN', 'malformed'],
    ['Infinity', '[Infinity]', 'malformed'],
    ['leading zero', '01', 'malformed'],
    ['leading zero negative', '-01', 'malformed'],
    ['bare minus', '-', 'malformed'],
    ['leading plus', '+1', 'malformed'],
    ['leading dot', '.5', 'malformed'],
    ['trailing dot', '1.', 'malformed'],
    ['empty exponent', '1e', 'malformed'],
    ['signed empty exponent', '1e+', 'malformed'],
    ['hex number', '0x10', 'malformed'],
    ['raw tab in string', '"a\tb"', 'malformed'],
    ['raw newline in key', '{"a\nb":1}', 'malformed'],
    ['raw NUL in string', '"\u0000"', 'malformed'],
    ['invalid escape', '"\\x41"', 'malformed'],
    ['short unicode escape', '"\\u12"', 'malformed'],
    ['non-hex unicode escape', '"\\u12G4"', 'malformed'],
    ['unterminated string', '"abc', 'malformed'],
    ['unterminated array', '[1,2', 'malformed'],
    ['unterminated object', '{"a":1', 'malformed'],
    ['missing colon', '{"a" 1}', 'malformed'],
    ['missing value', '{"a":}', 'malformed'],
    ['unquoted key', '{a:1}', 'malformed'],
    ['non-string key', '{1:1}', 'malformed'],
    ['two top-level values', '{} {}', 'malformed'],
    ['trailing garbage', 'true x', 'malformed'],
    ['truncated literal', 'tru', 'malformed'],
    ['uppercase literal', 'True', 'malformed'],
    ['comment', '{"a":1 /* c */}', 'malformed'],
    ['non-JSON whitespace', '\u00a0{}', 'malformed'],
    ['vertical tab whitespace', '\u000b[]', 'malformed'],
    ['BOM', '\ufeff{}', 'malformed'],
    ['missing comma', '[1 2]', 'malformed'],
    ['mismatched bracket', '[1}', 'malformed'],
    ['duplicate key', '{"a":1,"a":2}', 'duplicate_key'],
    ['duplicate key after unescaping', '{"\\u0061":1,"a":2}', 'duplicate_key'],
    ['nested duplicate key', '{"x":[{"b":1,"b":1}]}', 'duplicate_key'],
    ['__proto__ key', '{"__proto__":{}}', 'forbidden_key'],
    ['nested constructor key', '{"x":{"constructor":1}}', 'forbidden_key'],
    ['prototype key in array', '[{"prototype":null}]', 'forbidden_key'],
    ['escaped __proto__ key', '{"\\u005f_proto__":1}', 'forbidden_key'],
    ['33-deep arrays', nestedArrays(33), 'too_deep'],
    ['33-deep objects', nestedObjects(33), 'too_deep'],
    ['escaped lone high surrogate', '"\\ud800"', 'lone_surrogate'],
    ['escaped lone low surrogate key', '{"\\udc00":1}', 'lone_surrogate'],
    ['reversed surrogate pair', '"\\ude00\\ud83d"', 'lone_surrogate'],
    ['high surrogate then text', '["\\ud83dx"]', 'lone_surrogate'],
    ['raw lone high surrogate', '"\ud800"', 'lone_surrogate'],
    ['raw lone low surrogate key', '{"\udc00":1}', 'lone_surrogate'],
    ['two high surrogates', '"\\ud800\\ud800"', 'lone_surrogate'],
  ];
  for (const [name, text, reason] of cases) {
    it(`rejects ${name} as ${reason}`, () => {
      assertRejected(text, reason);
    });
  }

  it('gives a position hint for malformed input', () => {
    assert.match(rejection('{"a":1,"b":2,}').message, /position 13/);
    assert.match(rejection('').message, /end of input at position 0/);
  });

  it('names the JSON-pointer path of a duplicate key', () => {
    assert.equal(assertRejected('{"a":1,"a":2}', 'duplicate_key').message, 'duplicate key at /a');
    assert.equal(assertRejected('{"x":[0,{"k/~":1,"k/~":2}]}', 'duplicate_key').message, 'duplicate key at /x/1/k~1~0');
  });

  it('does not name long or control-character keys', () => {
    const long = 'k'.repeat(65);
    assert.equal(assertRejected(`{"${long}":1,"${long}":2}`, 'duplicate_key').message, 'duplicate key');
    assert.equal(assertRejected('{"a\\u0007":1,"a\\u0007":2}', 'duplicate_key').message, 'duplicate key');
    const ok = 'k'.repeat(64);
    assert.equal(assertRejected(`{"${ok}":1,"${ok}":2}`, 'duplicate_key').message, `duplicate key at /${ok}`);
  });

  it('never echoes string values in rejection messages', () => {
    const secret = 'sk_live_51HyperSecretValue0123456789';
    const docs = [
      `{"password":"${secret}",}`,
      `{"password":"${secret}"`,
      `{"password":'${secret}'}`,
      `{"password":"${secret}\t"}`,
      `{"password":"${secret}\\q"}`,
      `{"password":"${secret}\\ud800"}`,
      `{"password":"${secret}","password":"${secret}"}`,
      `{"token":${secret}}`,
      `["${secret}" "${secret}"]`,
      `{"a":{"b":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["${secret}"]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}`,
    ];
    for (const doc of docs) {
      const err = rejection(doc);
      assert.ok(!err.message.includes(secret), `${err.reason} message leaked: ${err.message}`);
      assert.ok(!err.message.includes('sk_live'), `${err.reason} message leaked: ${err.message}`);
    }
  });

  it('rejects absurd nesting without recursing', () => {
    const deep = '['.repeat(1_000_000);
    const err = assertRejected(deep, 'too_deep');
    assert.match(err.message, /position 32/);
  });
});

describe('parseStrictJson: properties', () => {
  it('agrees with JSON.parse on serialized JSON values', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 10 }).filter((v) => !hasForbiddenKey(v)),
        (v) => {
          const text = JSON.stringify(v);
          assert.deepEqual(parseStrictJson(text), JSON.parse(text));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('agrees with JSON.parse on pretty-printed unicode values, refusing only lone surrogates', () => {
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 6, stringUnit: 'binary' }).filter((v) => !hasForbiddenKey(v)),
        (v) => {
          const text = JSON.stringify(v, null, 2);
          if (hasLoneSurrogate(v)) {
            assertRejected(text, 'lone_surrogate');
          } else {
            assert.deepEqual(parseStrictJson(text), JSON.parse(text));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  const acceptsOnlyWhatJsonParseAccepts = (text: string): void => {
    let expected: unknown;
    let jsonOk = true;
    try {
      expected = JSON.parse(text);
    } catch {
      jsonOk = false;
    }
    let actual: unknown;
    try {
      actual = parseStrictJson(text);
    } catch (err) {
      // A stricter rule (duplicate key, depth, ...) may fire before the syntax error: any reason is fine.
      assert.ok(err instanceof JsonRejected, `non-JsonRejected error: ${String(err)}`);
      return;
    }
    assert.ok(jsonOk, `accepted text that JSON.parse rejects: ${JSON.stringify(text)}`);
    assert.deepEqual(actual, expected);
  };

  it('throws JsonRejected for any string JSON.parse rejects', () => {
    fc.assert(fc.property(fc.string(), acceptsOnlyWhatJsonParseAccepts), { numRuns: 2000 });
    fc.assert(fc.property(fc.string({ unit: 'binary' }), acceptsOnlyWhatJsonParseAccepts), { numRuns: 1000 });
  });

  it('throws JsonRejected for any JSON-like string JSON.parse rejects', () => {
    const token = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      ',',
      ':',
      '"',
      '\\',
      '"a"',
      '"b"',
      '\\u0061',
      '\\ud800',
      '\\udc00',
      'u',
      '0',
      '1',
      '-',
      '.',
      'e',
      'E',
      '+',
      '01',
      '1.5',
      'true',
      'fals',
      'null',
      ' ',
      '\n',
      '\t',
      '\u0000',
      "'",
      'x',
      '\ud83d',
      '\ude00',
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 30 }), (parts) => acceptsOnlyWhatJsonParseAccepts(parts.join(''))),
      { numRuns: 5000 },
    );
  });

  it('rejects mutations of valid documents exactly when JSON.parse does (or a stricter rule applies)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), fc.nat(), fc.constantFrom('', ',', '"', '\\', '}', ']', '0', ' ', 'x'), (v, at, insert) => {
        const text = JSON.stringify(v);
        const pos = at % (text.length + 1);
        acceptsOnlyWhatJsonParseAccepts(text.slice(0, pos) + insert + text.slice(pos + 1));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseStrictJson: performance', () => {
  it('parses a ~1 MiB document', (t) => {
    const items: unknown[] = [];
    let size = 2;
    for (let k = 0; size < 1024 * 1024; k++) {
      const item = {
        id: `cred_${k.toString(36).padStart(8, '0')}`,
        name: `integration \u00e9 ${k} \\ "quoted"`,
        secret: 'x'.repeat(200),
        tags: ['alpha', 'beta', k % 7 === 0 ? 'gamma' : 'delta'],
        meta: { n: k, f: k / 7, ok: k % 2 === 0, nested: { deeper: [null, -1.5e-3, '\ud83d\ude00'] } },
      };
      items.push(item);
      size += JSON.stringify(item).length + 1;
    }
    const text = JSON.stringify({ items });
    assert.ok(text.length >= 1024 * 1024);

    const best = (fn: () => unknown): number => {
      let min = Infinity;
      for (let r = 0; r < 20; r++) {
        const start = process.hrtime.bigint();
        fn();
        min = Math.min(min, Number(process.hrtime.bigint() - start) / 1e6);
      }
      return min;
    };
    // Results are dropped between runs, and the (allocation-heavy) deepEqual comes
    // last, so that garbage-collector state does not skew the numbers.
    const strictMs = best(() => parseStrictJson(text));
    const baseMs = best(() => JSON.parse(text));
    assert.deepEqual(parseStrictJson(text), JSON.parse(text));
    t.diagnostic(
      `${(text.length / 1024 / 1024).toFixed(2)} MiB: parseStrictJson best ${strictMs.toFixed(2)} ms ` +
        `(JSON.parse alone ${baseMs.toFixed(2)} ms; scan ≈ ${(strictMs - baseMs).toFixed(2)} ms)`,
    );
  });
});

describe('parseStrictJsonBody: bytes are strict UTF-8 before they are JSON', () => {
  const bytes = (...parts: Array<string | number[]>): Uint8Array => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));

  it('refuses invalid sequences instead of replacing them with U+FFFD', () => {
    for (const bad of [[0x80], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]]) {
      try {
        parseStrictJsonBody(bytes('{"secret":"a', bad, 'b"}'));
        assert.fail(`accepted ${JSON.stringify(bad)}`);
      } catch (err) {
        assert.ok(err instanceof JsonRejected, String(err));
        assert.equal(err.reason, 'invalid_utf8');
        assert.equal(err.message, 'Body is not valid UTF-8');
      }
    }
  });

  it('decodes 2-, 3- and 4-byte sequences', () => {
    assert.deepEqual(parseStrictJsonBody(bytes('{"v":"ä€😀"}')), { v: 'ä€😀' });
  });

  it('keeps a byte order mark, which the scanner refuses as before', () => {
    try {
      parseStrictJsonBody(bytes([0xef, 0xbb, 0xbf], '{}'));
      assert.fail('a BOM was accepted');
    } catch (err) {
      assert.ok(err instanceof JsonRejected);
      assert.equal(err.reason, 'malformed');
    }
  });
});
