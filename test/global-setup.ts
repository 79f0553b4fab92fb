// Fails fast, with the fix, when the machine lacks what the suite needs; builds dist/ (the CLI tests run
// the built binary) when it is missing or older than src/; gives the run its own temp folder (every
// fixture, output and work folder of every worker and spawned CLI) and removes it after.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveTool } from '../src/ffmpeg/runner.js';

const repo = fileURLToPath(new URL('..', import.meta.url));

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile()) t = Math.max(t, statSync(path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)).mtimeMs);
  }
  return t;
}

function buildIfStale(): void {
  const built = (() => {
    try {
      return statSync(path.join(repo, 'dist', 'cli.js')).mtimeMs;
    } catch {
      return 0;
    }
  })();
  const sources = Math.max(newest(path.join(repo, 'src')), statSync(path.join(repo, 'package.json')).mtimeMs);
  if (built >= sources) return;
  execFileSync(process.execPath, [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(repo, 'tsconfig.build.json')], { stdio: 'inherit', cwd: repo });
}

export default function setup(): () => void {
  resolveTool('ffmpeg');
  resolveTool('ffprobe');
  buildIfStale();
  const root = mkdtempSync(path.join(os.tmpdir(), 'recmerge-tests-'));
  // Read by os.tmpdir() here and in the workers and child processes started after this point.
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
