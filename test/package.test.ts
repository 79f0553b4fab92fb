// What an installer gets: the packed file list, a LICENSE, no install-time scripts, source maps that
// resolve, `require('recmerge')` and `import 'recmerge'` both working, and ensure-tools.sh honouring
// FFMPEG_PATH / FFPROBE_PATH.
import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from './support/sync.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));

describe('the package', () => {
  let files: string[];
  beforeAll(async () => {
    // --ignore-scripts: the list only (global-setup has built dist/ already).
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo });
    files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  });

  it('ships the built library, the CLI, LICENSE and README, and no tests or TypeScript sources', () => {
    for (const f of ['LICENSE', 'README.md', 'package.json', 'bin/recmerge.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli.js', 'scripts/ensure-tools.sh']) expect(files).toContain(f);
    expect(files.filter((f) => f.startsWith('src/') || f.startsWith('test/'))).toEqual([]);
  });

  it('runs nothing when installed (no prepare/install scripts)', async () => {
    const pkg = JSON.parse(await readFile(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    for (const hook of ['prepare', 'preinstall', 'install', 'postinstall']) expect(pkg.scripts[hook], hook).toBeUndefined();
  });

  it('every shipped source map resolves: each source it names is embedded', async () => {
    const maps = files.filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const m of maps) {
      const map = JSON.parse(await readFile(path.join(repo, m), 'utf8')) as { sources: string[]; sourcesContent?: (string | null)[] };
      expect(map.sources.length, m).toBeGreaterThan(0);
      map.sources.forEach((s, i) => {
        const shipped = files.includes(path.posix.join(path.posix.dirname(m), s));
        expect(shipped || typeof map.sourcesContent?.[i] === 'string', `${m} -> ${s}`).toBe(true);
      });
    }
  });

  it('works from CommonJS (require) and from ES modules (import)', async () => {
    const project = await tempDir('consumer');
    await mkdir(path.join(project, 'node_modules'), { recursive: true });
    await symlink(repo, path.join(project, 'node_modules', 'recmerge'));
    await writeFile(
      path.join(project, 'use.cjs'),
      "const r = require('recmerge');\nconst html = r.timelineHtml({ sessions: [], ignored: [], problems: [], unmeasured: [] });\nconsole.log(typeof r.mergeRecordings, typeof r.inspectRecordings, /No recording found/.test(html));\n",
    );
    await writeFile(path.join(project, 'use.mjs'), "import * as r from 'recmerge';\nconsole.log(JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'function' && /Error$/.test(k) ? new v('x', 'x', 'x', '').name : typeof v]))));\n");
    expect((await run(process.execPath, ['use.cjs'], { cwd: project })).stdout.trim()).toBe('function function true');
    // Every command's entry points (and its plan), every error under its own name, nothing else.
    expect(JSON.parse((await run(process.execPath, ['use.mjs'], { cwd: project })).stdout)).toEqual({
      inspectRecordings: 'function',
      planRecordings: 'function',
      mergeRecordings: 'function',
      planComposition: 'function',
      composeRecordings: 'function',
      planSnapshotRecordings: 'function',
      snapshotRecordings: 'function',
      summarizeInventory: 'function',
      timelineHtml: 'function',
      enqueueMerge: 'function',
      startWorker: 'function',
      startNotificationServer: 'function',
      UsageError: 'UsageError',
      SliceUnreadableError: 'SliceUnreadableError',
      PlaylistError: 'PlaylistError',
      FfmpegError: 'FfmpegError',
      ToolNotFoundError: 'ToolNotFoundError',
      JobDataError: 'JobDataError',
      NotAllowedError: 'NotAllowedError',
      NotificationError: 'NotificationError',
      S3OperationError: 'S3OperationError',
      S3UrlError: 'S3UrlError',
    });
  });

  it('scripts/ensure-tools.sh checks FFMPEG_PATH / FFPROBE_PATH instead of PATH, and names a wrong one', async () => {
    const script = path.join(repo, 'scripts', 'ensure-tools.sh');
    const ffmpeg = (await run('sh', ['-c', 'command -v ffmpeg'])).stdout.trim();
    const ffprobe = (await run('sh', ['-c', 'command -v ffprobe'])).stdout.trim();
    // Nothing on PATH, both variables set: fine, nothing to install.
    await run('/bin/sh', [script, 'ffmpeg'], { env: { PATH: '/nonexistent', FFMPEG_PATH: ffmpeg, FFPROBE_PATH: ffprobe } });
    const wrong = await run('/bin/sh', [script, 'ffmpeg'], { env: { PATH: process.env.PATH, FFMPEG_PATH: ffmpeg, FFPROBE_PATH: '/nonexistent/ffprobe' } }).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(wrong?.code).toBe(1);
    expect(wrong?.stderr).toMatch(/FFPROBE_PATH=\/nonexistent\/ffprobe is not an executable file/);
  });
});
