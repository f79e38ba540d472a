// Where a report is written: a full run (or one with --write) publishes bench/RESULTS.md, the one
// committed table, and leaves its raw per-round figures in bench/out/results.json (not committed:
// 6,500 lines of diff a run); a quick check writes drafts to bench/out/ and publishes nothing.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from './report-markdown.js';
import { renderResultsMarkdown } from './report-markdown.js';

export interface WrittenFiles {
  markdown: string;
  json: string;
}

export function writeReport(report: BenchReport, benchDir: string, publish: boolean): WrittenFiles {
  const out = join(benchDir, 'out');
  mkdirSync(out, { recursive: true });
  const markdown = publish ? join(benchDir, 'RESULTS.md') : join(out, 'RESULTS-draft.md');
  const json = join(out, publish ? 'results.json' : 'results-draft.json');
  writeFileSync(markdown, renderResultsMarkdown(report));
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return { markdown, json };
}
