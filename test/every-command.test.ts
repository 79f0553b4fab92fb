// What the README promises for "every command" holds for merge, compose and snapshots alike (they share one
// run pipeline and one CLI runner): where warnings go, checks before any work, reruns, progress, JSON events,
// names, cancellation. Each case runs the built binary (or the library) the way a user does.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings, snapshotRecordings } from '../src/api.js';
import { hostTag, PARTIAL_MARKER, WORK_PREFIX } from '../src/pipeline/leftovers.js';
import { BIN, recmerge } from './support/cli.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const SID = 'e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7';
const CNAME = 'every_room';

/** Each command with the arguments that make it run on the recording. */
const COMMANDS: [string, string[]][] = [
  ['merge', []],
  ['compose', ['--size', '320x180']],
  ['snapshots', ['--every', '1']],
];

describe('every command keeps the same promises', () => {
  let root: string;
  let missingKey: string;
  beforeAll(async () => {
    root = await tempDir('every');
    const video = (startMs: number) => [{ startMs, durationMs: 3000, sliceMs: 1000, width: 160, height: 90, fps: 15 }];
    const written = await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        { uid: '10', audio: [{ startMs: T0, durationMs: 3000, sliceMs: 1000 }], video: video(T0) },
        { uid: '20', audio: [{ startMs: T0, durationMs: 3000, sliceMs: 1000 }], video: video(T0) },
      ],
    });
    await writeFile(path.join(root, 'readme.txt'), 'not a recording');
    // A video slice the playlist lists but storage lacks: a gap, and a warning naming it, for every command.
    const lost = written.slices.find((s) => s.uid === '10' && s.media === 'video' && s.startMs > T0 + 500)!;
    missingKey = lost.key;
    await rm(lost.path);
  });

  const out = (label: string) => mkdtemp(path.join(os.tmpdir(), `recmerge-every-${label}-`)).then((d) => path.join(d, 'out'));

  it.each(COMMANDS)('%s -q still prints warnings, on stderr; results alone on stdout', async (command, args) => {
    const run = await recmerge([command, root, '-o', await out(command), ...args, '-q']);
    expect(run.code).toBe(0);
    expect(run.stderr).toContain(`warning: uid 10: ${missingKey}`);
    expect(run.stdout).not.toMatch(/warning|✗/);
    expect(run.stdout).toMatch(/✓ /);
    const loud = await recmerge([command, root, '-o', await out(`${command}-loud`), ...args]);
    expect(loud.stderr).toContain(missingKey);
    expect(loud.stdout).not.toMatch(/warning|✗/);
  });

  it.each(COMMANDS)('%s refuses an output folder inside the recording (exit 2, nothing written)', async (command, args) => {
    const run = await recmerge([command, root, '-o', path.join(root, 'inside'), ...args]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/is inside the source folder/);
    await expect(stat(path.join(root, 'inside'))).rejects.toThrow(/ENOENT/);
  });

  it.each(COMMANDS)('%s --uid 9999 names the UIDs the recording has (exit 2, on stderr)', async (command, args) => {
    const dir = await out(`${command}-uid`);
    const run = await recmerge([command, root, '-o', dir, ...args, '--uid', '9999']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no UID 9999 in this recording: the recording has UID 10, 20/);
    expect(run.stdout).toBe('');
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it.each(COMMANDS)('%s with FFMPEG_PATH=/bin/false stops before any work (exit 2)', async (command, args) => {
    const dir = await out(`${command}-tool`);
    const run = await recmerge([command, root, '-o', dir, ...args], { FFMPEG_PATH: '/bin/false' });
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/\/bin\/false cannot be run as ffmpeg/);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it.each(COMMANDS)('%s --upload to a bucket it cannot reach stops before any work (exit 2)', async (command, args) => {
    const dir = await out(`${command}-upload`);
    const keys = { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' };
    const run = await recmerge([command, root, '-o', dir, ...args, '--upload', 's3://results/x', '--endpoint', 'http://127.0.0.1:9', '--path-style'], keys);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot upload to s3:\/\/results\/x/);
    await expect(stat(dir)).rejects.toThrow(/ENOENT/);
  });

  it.each(COMMANDS)('%s from S3 without credentials says what to set (exit 2)', async (command, args) => {
    const none = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true', AWS_CONFIG_FILE: '/nonexistent', AWS_SHARED_CREDENTIALS_FILE: '/nonexistent' };
    const run = await recmerge([command, 's3://rec/class42', '-o', await out(`${command}-creds`), ...args, '--endpoint', 'http://127.0.0.1:9'], none);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/cannot read s3:\/\/rec\/class42: no S3 credentials were found .*set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  });

  it.each([
    ['merge', ['--fps', '10'], /remade: options changed \(fps unset → 10/],
    ['compose', ['--size', '320x180'], /remade: options changed \(size "640x360" → "320x180"\)/],
    ['snapshots', ['--every', '2'], /remade: options changed \(every 1 → 2\)/],
  ] as [string, string[], RegExp][])('%s reruns keep what is done and remake what other options would change', async (command, changed, why) => {
    const dir = await out(`${command}-rerun`);
    const first = command === 'compose' ? ['--size', '640x360'] : command === 'snapshots' ? ['--every', '1'] : [];
    expect((await recmerge([command, root, '-o', dir, ...first, '-q'])).code).toBe(0);
    const again = await recmerge([command, root, '-o', dir, ...first, '-q']);
    expect(again.stdout).toMatch(/^= /m);
    expect(again.stdout).not.toMatch(/^✓ /m);
    const other = await recmerge([command, root, '-o', dir, ...changed, '-q']);
    expect(other.code).toBe(0);
    expect(other.stdout).toMatch(why);
  });

  it.each(COMMANDS)('%s in a log: one labelled line per phase change, after the plan', async (command, args) => {
    const run = await recmerge([command, root, '-o', await out(`${command}-log`), ...args]);
    expect(run.stderr).toMatch(/recmerge: reading .*\nrecmerge: \d+ output\(s\) to make/);
    const label = command === 'compose' ? `composite ${CNAME}` : 'uid 10';
    const phase = command === 'snapshots' ? 'snapshot' : command;
    expect(run.stderr).toMatch(new RegExp(`^${label}: ${phase} \\d+%`, 'm'));
    expect(run.stderr).toMatch(new RegExp(`^${label}: done`, 'm'));
    expect(run.stderr).not.toMatch(/^uid\s*:/m);
  });

  it.each(COMMANDS)('%s --progress-json: warnings and failures come as messages before `end`', async (command, args) => {
    const run = await recmerge([command, root, '-o', await out(`${command}-pj`), ...args, '--progress-json']);
    expect(run.code).toBe(0);
    const events = run.stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; kind?: string; text?: string; label?: string });
    const end = events.findIndex((e) => e.event === 'end');
    expect(end).toBe(events.length - 1);
    expect(events.findIndex((e) => e.event === 'message' && e.kind === 'warning' && e.text!.includes(missingKey))).toBeGreaterThan(0);
    expect(events.filter((e) => e.event === 'progress').every((e) => typeof e.label === 'string' && e.label.length > 0)).toBe(true);
  });

  it.each(COMMANDS)('%s --progress-json 5 with descriptor 5 not open is a usage error', async (command, args) => {
    const run = await recmerge([command, root, '-o', await out(`${command}-fd`), ...args, '--progress-json', '5']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--progress-json 5: file descriptor 5 is not open/);
  });

  it('a cancelled run rejects only once its temporary files are gone', async () => {
    const mine = `${WORK_PREFIX}${hostTag()}-${process.pid}-`;
    for (const [name, start] of [
      ['merge', (o: { outDir: string; signal: AbortSignal; onProgress: (p: { phase: string }) => void }) => mergeRecordings({ source: root, transcode: true, ...o })],
      ['compose', (o: { outDir: string; signal: AbortSignal; onProgress: (p: { phase: string }) => void }) => composeRecordings({ source: root, ...o })],
      ['snapshots', (o: { outDir: string; signal: AbortSignal; onProgress: (p: { phase: string }) => void }) => snapshotRecordings({ source: root, every: 0.2, ...o })],
    ] as const) {
      const outDir = await out(`${name}-cancel`);
      const controller = new AbortController();
      const run = start({ outDir, signal: controller.signal, onProgress: (p) => ['merge', 'compose', 'snapshot'].includes(p.phase) && controller.abort(new Error('stop')) });
      await expect(run, name).rejects.toThrow('stop');
      // Right after the rejection: nothing half-written, no work folder of this process.
      expect((await readdir(outDir, { recursive: true })).filter((f) => String(f).includes(PARTIAL_MARKER)), name).toEqual([]);
      expect((await readdir(os.tmpdir())).filter((f) => f.startsWith(mine)), name).toEqual([]);
    }
  });

  it('SIGINT stops every command with 130 and leaves no temporary file', async () => {
    // ffmpeg slowed to real time, so that the work is under way when the signal comes.
    const slow = path.join(await tempDir('every-slow'), 'slow-ffmpeg');
    const real = (await new Promise<string>((resolve) => spawn('sh', ['-c', 'command -v ffmpeg']).stdout!.on('data', (d: Buffer) => resolve(d.toString().trim()))));
    await writeFile(slow, `#!/bin/sh\nfor a in "$@"; do\n  if [ "$a" = "-i" ]; then set -- "$@" -readrate 1 -i; else set -- "$@" "$a"; fi\n  shift\ndone\nexec ${real} "$@"\n`);
    await chmod(slow, 0o755);
    for (const [command, args] of COMMANDS) {
      const dir = await out(`${command}-sigint`);
      const child = spawn(process.execPath, [BIN, command, root, '-o', dir, ...args, '--progress-json'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, FFMPEG_PATH: slow } });
      let seen = '';
      child.stderr!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/"phase":"(merge|compose|snapshot)"/.test(seen) && child.exitCode === null && !child.killed) child.kill('SIGINT');
      });
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ command, code }).toEqual({ command, code: 130 });
      expect((await readdir(dir, { recursive: true }).catch(() => [])).filter((f) => String(f).includes(PARTIAL_MARKER))).toEqual([]);
    }
  });
});
