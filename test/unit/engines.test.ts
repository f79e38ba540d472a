// Every package npm installs must run on the Node version the README and `engines` promise:
// npm ci warns EBADENGINE for each one that does not (commander 15 and two transitive
// dependencies asked for Node 22 while we said 20.12+).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import semver from 'semver';

const ROOT = resolve(import.meta.dirname, '../..');
const json = (path: string) => JSON.parse(readFileSync(resolve(ROOT, path), 'utf8'));

describe('Node version', () => {
  const pkg = json('package.json');
  const oldest = semver.minVersion(pkg.engines.node)!;

  it('the README names the oldest Node that engines allows', () => {
    assert.match(readFileSync(resolve(ROOT, 'README.md'), 'utf8'), new RegExp(`Needs Node ${oldest.major}\\.${oldest.minor}\\+`));
  });

  it('every package in package-lock.json runs on it (no EBADENGINE from npm ci)', () => {
    const lock = json('package-lock.json');
    const refused = Object.entries(lock.packages as Record<string, { version?: string; engines?: { node?: string } | string[] }>)
      .filter(([, p]) => typeof p.engines === 'object' && !Array.isArray(p.engines) && typeof p.engines.node === 'string')
      .filter(([, p]) => !semver.satisfies(oldest, (p.engines as { node: string }).node))
      .map(([path, p]) => `${path}@${p.version} wants node ${(p.engines as { node: string }).node}`);
    assert.deepEqual(refused, []);
  });

  it('the SDK promises no more than the server', () => {
    assert.ok(semver.subset(pkg.engines.node, json('sdk/package.json').engines.node), 'sdk engines must include the root engines range');
  });
});
