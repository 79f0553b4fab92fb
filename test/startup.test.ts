// Fast start: `--version`, `--help` and a local merge load neither the AWS SDK nor BullMQ/ioredis (they
// are imported only by s3:// sources, uploads and queue commands). Which modules a run imports is traced
// with a resolve hook; the time it takes is measured by `npm run bench`, not here.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { recmerge } from './support/cli.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const TRACE = fileURLToPath(new URL('./support/import-trace.mjs', import.meta.url));
const HEAVY = /\/node_modules\/(@aws-sdk|@smithy|bullmq|ioredis)\//;

describe('what a command loads', () => {
  let dir: string;
  let root: string;
  beforeAll(async () => {
    dir = await tempDir('startup');
    root = path.join(dir, 'rec');
    await writeRecording(root, { sid: 'ab'.repeat(16), cname: 'c', users: [{ uid: '1', audio: [{ startMs: T0, durationMs: 1000 }] }] });
  });

  async function traced(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; modules: string[]; stderr: string }> {
    const file = path.join(dir, `trace-${Math.random().toString(16).slice(2)}`);
    const run = await recmerge(args, { RECMERGE_TRACE_IMPORTS: file, ...env }, ['--import', TRACE]);
    const modules = (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean);
    return { code: run.code, modules, stderr: run.stderr };
  }

  it('--version, --help and a local merge import no AWS SDK, BullMQ or ioredis', async () => {
    for (const args of [['--version'], ['merge', '--help'], ['merge', root, '-o', path.join(dir, 'out'), '-q'], ['inspect', root]]) {
      const { code, modules } = await traced(args);
      expect(code, args.join(' ')).toBe(0);
      expect(modules.some((m) => m.endsWith('/dist/cli.js')), args.join(' ')).toBe(true);
      expect(modules.filter((m) => HEAVY.test(m)), args.join(' ')).toEqual([]);
    }
    // --version does not even load the library (the merge engine, storage, the core). The core's errors and its
    // option table (both dependency-free: the queue commands check flags with the same table) are the exceptions.
    const version = await traced(['--version']);
    expect(version.modules.filter((m) => /\/dist\/(api|index|core\/(?!(errors|options)\.js)|merge\/|storage\/(local|s3|upload)\.js)/.test(m))).toEqual([]);
  });

  it('an s3:// source does load the AWS SDK (the trace sees it)', async () => {
    const args = ['inspect', 's3://bucket/prefix', '--endpoint', 'http://127.0.0.1:9', '--path-style'];
    const keys = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' };
    const { modules, stderr } = await traced(args, keys);
    expect(modules.some((m) => /\/node_modules\/@aws-sdk\/client-s3\//.test(m))).toBe(true);
    // ... without the SDK's 9-line notice about Node 22 (explained once, in the README).
    expect(stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    expect(stderr).toMatch(/s3:\/\/bucket/);
    if (Number(process.versions.node.split('.')[0]) < 22) {
      // The notice exists on this Node: asking for it back shows it.
      const loud = await traced(args, { ...keys, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'false' });
      expect(loud.stderr).toMatch(/NodeVersionSupportWarning/);
    }
  });
});
