// Which Latchkey build was measured: the commit, whether the tree had uncommitted changes,
// and when dist/ was last built.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';

export interface BuildInfo {
  commit: string | null;
  uncommittedChanges: boolean | null;
  distBuiltAt: string | null;
}

function git(repoRoot: string, args: string[]): string | null {
  try {
    return execFileSync('git', ['-C', repoRoot, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

export function readBuildInfo(repoRoot: string): BuildInfo {
  const status = git(repoRoot, ['status', '--porcelain', '--', 'src', 'bin', 'package.json']);
  let distBuiltAt: string | null = null;
  try {
    distBuiltAt = statSync(join(repoRoot, 'dist', 'latchkey.js')).mtime.toISOString();
  } catch {
    // not built
  }
  return {
    commit: git(repoRoot, ['rev-parse', '--short', 'HEAD']),
    uncommittedChanges: status === null ? null : status.length > 0,
    distBuiltAt,
  };
}
