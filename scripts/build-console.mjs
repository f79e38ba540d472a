// Builds the web console (web/console/) into dist/console/, which the server serves at /ui:
// one script bundled and minified by esbuild, one stylesheet, one page. Nothing is fetched at run
// time (no CDN). Prints each file's gzipped size: the console must stay small on a slow link.
import { build } from 'esbuild';
import { copyFile, mkdir, readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const web = fileURLToPath(new URL('../web/console/', import.meta.url));
const out = fileURLToPath(new URL('../dist/console/', import.meta.url));
await mkdir(out, { recursive: true });
const common = { bundle: true, minify: true, legalComments: 'none', logLevel: 'warning' };
await build({ ...common, entryPoints: [`${web}src/main.ts`], outfile: `${out}app.js`, format: 'esm', target: 'es2022', platform: 'browser' });
await build({ ...common, entryPoints: [`${web}app.css`], outfile: `${out}app.css` });
await copyFile(`${web}index.html`, `${out}index.html`);

let total = 0;
const sizes = [];
for (const name of ['index.html', 'app.js', 'app.css']) {
  const gz = gzipSync(await readFile(`${out}${name}`), { level: 9 }).length;
  total += gz;
  sizes.push(`${name} ${gz} B`);
}
console.log(`console: dist/console/ (gzipped: ${sizes.join(', ')}; ${total} B in all)`);
