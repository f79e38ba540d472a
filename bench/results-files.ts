// Where a report is written: bench/RESULTS.md + bench/results.json for a full run (or with
// --write), bench/out/ otherwise, so a quick check never overwrites the published figures.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from './report-markdown.js';
import { renderResultsMarkdown } from './report-markdown.js';

export interface WrittenFiles {
  markdown: string;
  json: string;
}

export function writeReport(report: BenchReport, benchDir: string, publish: boolean): WrittenFiles {
  const dir = publish ? benchDir : join(benchDir, 'out');
  mkdirSync(dir, { recursive: true });
  const markdown = join(dir, publish ? 'RESULTS.md' : 'RESULTS-draft.md');
  const json = join(dir, publish ? 'results.json' : 'results-draft.json');
  writeFileSync(markdown, renderResultsMarkdown(report));
  writeFileSync(json, `${JSON.stringify(report, null, 2)}\n`);
  return { markdown, json };
}
