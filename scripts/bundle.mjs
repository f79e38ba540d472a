// Bundles the compiled CLI (dist/cli/main.js) into one file, dist/latchkey.js, which
// bin/latchkey.js runs. Why: Node spends about half of start-up resolving and reading
// modules (~1,260 files unbundled, ~290 bundled), and start to ready is a target (issue 7).
// Run after `tsc` and copy-assets (package.json "build", which "prepare" runs).
//
// Kept external: packages with native addons or files they read beside themselves
// (better-sqlite3, pg-native, @fastify/swagger-ui's static assets), and those loaded lazily
// on a path most processes never take (jose, nodemailer), so bundling them would only move
// their cost to start-up.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { readFile } from 'node:fs/promises';
import { relative } from 'node:path';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const outfile = `${dist}latchkey.js`;

/**
 * Our own modules locate files beside themselves with `new URL('./x/', import.meta.url)`;
 * in the bundle import.meta.url is dist/latchkey.js, so each module's import.meta.url is
 * rewritten to the URL its unbundled file would have had.
 */
const ownImportMetaUrl = {
  name: 'own-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.js$/ }, async (args) => {
      if (!args.path.startsWith(dist)) return undefined;
      const source = await readFile(args.path, 'utf8');
      if (!source.includes('import.meta.url')) return undefined;
      const rel = relative(dist, args.path).split('\\').join('/');
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      return { contents: source.replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};

await build({
  entryPoints: [`${dist}cli/main.js`],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  logLevel: 'warning',
  // CommonJS dependencies call require(); an ESM bundle has none unless it makes one.
  banner: { js: "import { createRequire as __latchkeyRequire } from 'node:module'; const require = __latchkeyRequire(import.meta.url);" },
  external: ['better-sqlite3', 'pg-native', '@fastify/swagger-ui', 'jose', 'nodemailer'],
  plugins: [ownImportMetaUrl],
});
console.log(`bundle: dist/cli/main.js -> ${relative(process.cwd(), outfile)}`);
