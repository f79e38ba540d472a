// Re-renders RESULTS.md from a results.json (after the notes' wording changed, say), without
// measuring again: by default bench/out/results.json, which the last full run on this machine left.
// Usage: node --import tsx bench/render-results.ts [results.json] [RESULTS.md]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BenchReport } from './report-markdown.js';
import { renderResultsMarkdown } from './report-markdown.js';

const benchDir = dirname(fileURLToPath(import.meta.url));
const from = process.argv[2] ?? join(benchDir, 'out', 'results.json');
const to = process.argv[3] ?? join(benchDir, 'RESULTS.md');
// Trusted input: a file this harness wrote.
const report = JSON.parse(readFileSync(from, 'utf8')) as BenchReport;
writeFileSync(to, renderResultsMarkdown(report));
process.stderr.write(`rendered ${to} from ${from}\n`);
