// Copies files that tsc does not emit into dist/: the credential type catalog (JSON).
// Run after `tsc` (package.json "build"). Stale files are removed so a deleted type does not
// linger in a build.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
const assets = [{ from: 'src/catalog/types/', to: 'dist/catalog/types/', ext: '.json' }];

for (const { from, to, ext } of assets) {
  const src = fileURLToPath(new URL(from, root));
  const dest = fileURLToPath(new URL(to, root));
  rmSync(dest, { recursive: true, force: true });
  mkdirSync(dest, { recursive: true });
  const files = readdirSync(src).filter((name) => name.endsWith(ext));
  for (const name of files) copyFileSync(src + name, dest + name);
  console.log(`copy-assets: ${files.length} file(s) ${from} -> ${to}`);
}
