// The SDK's wire types come from the server's OpenAPI document (sdk/openapi.json →
// sdk/src/generated/openapi.ts, aliased in sdk/src/types.ts). These tests fail when the committed
// files drift from what the built server serves, when the SDK does not typecheck against them,
// and they show that a breaking schema change does turn into SDK type errors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
// @ts-expect-error -- a plain .mjs script without type declarations
import { SPEC_FILE, jsonDifferences, normalise, typesText } from '../../scripts/generate-sdk-types.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

async function run(args: string[], cwd = ROOT): Promise<{ code: number | null; output: string }> {
  const proc = spawn(process.execPath, args, { cwd, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  proc.stdout.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const [code] = (await once(proc, 'exit')) as [number | null];
  return { code, output };
}

type Json = any;
const committedDoc = (): Json => JSON.parse(readFileSync(SPEC_FILE, 'utf8'));

describe('SDK types generated from the OpenAPI document', () => {
  it('the committed sdk/openapi.json and sdk/src/generated/openapi.ts match the running server (generate-sdk-types --check)', async () => {
    const { code, output } = await run(['scripts/generate-sdk-types.mjs', '--check']);
    assert.equal(code, 0, `the SDK types drifted from the server's document; run \`npm run generate:sdk-types\`:\n${output}`);
    assert.match(output, /in sync/);
  });

  it('the SDK typechecks against the generated types (tsc -p sdk --noEmit)', async () => {
    const { code, output } = await run([TSC, '-p', 'sdk', '--noEmit', '--pretty', 'false']);
    assert.equal(code, 0, `tsc -p sdk reported errors:\n${output}`);
  });

  it('normalising makes the output independent of key order and drops servers', () => {
    const a = {
      openapi: '3.1.0',
      servers: [{ url: 'http://127.0.0.1:4242' }],
      paths: { '/b': { get: { summary: 'b' } }, '/a': {} },
      info: { version: '1', title: 't' },
    };
    const b = { info: { title: 't', version: '1' }, paths: { '/a': {}, '/b': { get: { summary: 'b' } } }, openapi: '3.1.0' };
    assert.deepEqual(JSON.stringify(normalise(a)), JSON.stringify(normalise(b)));
    assert.equal('servers' in normalise(a), false);
    const required = normalise({ type: 'object', required: ['b', 'a'], properties: { required: { type: 'string' } } });
    assert.deepEqual(required.required, ['a', 'b']);
    assert.deepEqual(Object.keys(required.properties), ['required']);
  });

  it('a breaking schema change is reported as drift and breaks the SDK typecheck once regenerated', async () => {
    const doc = committedDoc();
    const changed = structuredClone(doc);
    // 1. The credential list page loses `next_cursor` (the paginator needs it).
    const page = changed.paths['/v1/credentials'].get.responses['200'].content['application/json'].schema;
    page.properties.cursor_next = page.properties.next_cursor;
    delete page.properties.next_cursor;
    page.required = page.required.map((k: string) => (k === 'next_cursor' ? 'cursor_next' : k));
    // 2. Rotate's body renames `grace_period_seconds` (the SDK builds that body).
    const rotate = changed.paths['/v1/credentials/{id}/rotate'].post.requestBody.content['application/json'].schema;
    rotate.properties.grace_seconds = rotate.properties.grace_period_seconds;
    delete rotate.properties.grace_period_seconds;
    // 3. The audit list renames its `per_page` query parameter (the SDK sends it).
    for (const p of changed.paths['/v1/audit-events'].get.parameters) if (p.name === 'per_page') p.name = 'page_size';

    const diffs: string[] = jsonDifferences(doc, changed);
    assert.ok(
      diffs.some((d) => d.includes('["/v1/credentials"]') && d.includes('next_cursor')),
      diffs.join('\n'),
    );
    assert.ok(
      diffs.some((d) => d.includes('grace_period_seconds')),
      diffs.join('\n'),
    );
    assert.ok(
      diffs.some((d) => d.includes('["/v1/audit-events"]') && d.includes('per_page')),
      diffs.join('\n'),
    );

    const dir = mkdtempSync(join(tmpdir(), 'latchkey-sdk-drift-'));
    try {
      cpSync(join(ROOT, 'sdk/src'), join(dir, 'src'), { recursive: true });
      cpSync(join(ROOT, 'sdk/tsconfig.json'), join(dir, 'tsconfig.json'));
      cpSync(join(ROOT, 'sdk/package.json'), join(dir, 'package.json'));
      // The unchanged document regenerates the committed file byte for byte...
      assert.equal(await typesText(normalise(doc)), readFileSync(join(ROOT, 'sdk/src/generated/openapi.ts'), 'utf8'));
      // ...and the changed one makes the SDK fail to compile where it relies on the changed fields.
      writeFileSync(join(dir, 'src/generated/openapi.ts'), await typesText(normalise(changed)));
      const { code, output } = await run([TSC, '-p', dir, '--noEmit', '--pretty', 'false']);
      assert.notEqual(code, 0, 'the SDK still compiled after a breaking schema change');
      assert.match(output, /src[\\/]resources[\\/]credentials\.ts\(\d+,\d+\): error TS\d+:[^\n]*(next_cursor|PageOfItems)/, output);
      assert.match(output, /src[\\/]resources[\\/]credentials\.ts\(\d+,\d+\): error TS\d+:[^\n]*grace_period_seconds/, output);
      assert.match(output, /src[\\/]resources[\\/]audit-events\.ts\(\d+,\d+\): error TS\d+:[^\n]*per_page/, output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
