// Fails fast, with the fix, when the machine lacks what the suite needs; gives the run its own temp
// folder (every fixture, output and work folder of every worker and spawned CLI) and removes it after.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveTool } from '../src/ffmpeg/runner.js';

export default function setup(): () => void {
  resolveTool('ffmpeg');
  resolveTool('ffprobe');
  const root = mkdtempSync(path.join(os.tmpdir(), 'recmerge-tests-'));
  // Read by os.tmpdir() here and in the workers and child processes started after this point.
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
