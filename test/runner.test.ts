// The ffmpeg runner against tiny fake binaries (shell scripts in a temp dir), in the manner of execa's tests.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FfmpegError, INSTALL_HINT, resolveTool, runTool, ToolNotFoundError, type FfmpegProgress, type Tool } from '../src/ffmpeg/runner.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'recmerge-runner-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

/** Writes an executable shell script and returns its path. */
function fake(body: string, name = `fake${n++}`, dir = root, mode = 0o755): string {
  const file = path.join(dir, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode });
  return file;
}
const env = (tool: Tool, bin: string): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, [tool === 'ffmpeg' ? 'FFMPEG_PATH' : 'FFPROBE_PATH']: bin });
const failure = async (p: Promise<unknown>): Promise<FfmpegError> => {
  const error = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(FfmpegError);
  return error as FfmpegError;
};

describe('runTool: success', () => {
  it('collects stdout and stderr of a tool that exits 0', async () => {
    const bin = fake(`printf '{"streams":[]}'; printf 'note' >&2`);
    await expect(runTool('ffprobe', ['-v', 'error'], { env: env('ffprobe', bin) })).resolves.toEqual({ stdout: '{"streams":[]}', stderr: 'note' });
  });

  it('arguments arrive intact, one by one: no shell is involved', async () => {
    const bin = fake(`for a in "$@"; do printf '%s\\0' "$a"; done`);
    const args = ['a b', "it's", '"dq"', '$HOME', '`id`', '; echo pwned', '*', 'ünïcødé 日本', '', '-i', 'x\\y'];
    const { stdout } = await runTool('ffprobe', args, { env: env('ffprobe', bin) });
    expect(stdout.split('\0').slice(0, -1)).toEqual(args);
  });

  it('ffmpeg gets -hide_banner -nostdin first; with onProgress also -progress pipe:1 -nostats', async () => {
    const bin = fake(`for a in "$@"; do printf '%s\\n' "$a" >&2; done; exit 9`);
    const plain = await failure(runTool('ffmpeg', ['-i', 'x'], { env: env('ffmpeg', bin) }));
    expect(plain.stderrTail.trim().split('\n')).toEqual(['-hide_banner', '-nostdin', '-i', 'x']);
    const withProgress = await failure(runTool('ffmpeg', ['-i', 'x'], { env: env('ffmpeg', bin), onProgress: () => {} }));
    expect(withProgress.stderrTail.trim().split('\n')).toEqual(['-hide_banner', '-nostdin', '-progress', 'pipe:1', '-nostats', '-i', 'x']);
  });

  it('runs in the cwd it is given', async () => {
    const dir = path.join(root, 'cwd');
    mkdirSync(dir);
    const { stdout } = await runTool('ffprobe', [], { env: env('ffprobe', fake('pwd -P')), cwd: dir });
    expect(stdout.trim()).toBe(path.resolve(dir));
  });
});

describe('runTool: failures', () => {
  it('non-zero exit -> FfmpegError with the command, exit code, stderr tail and a pasteable command line', async () => {
    const bin = fake(`echo 'Input #0, mpegts' >&2; echo "x.ts: Invalid data found when processing input" >&2; exit 3`);
    const error = await failure(runTool('ffmpeg', ['-i', "it's a file.ts", '-f', 'mp4', 'out.mp4'], { env: env('ffmpeg', bin) }));
    expect(error.command).toEqual([bin, '-hide_banner', '-nostdin', '-i', "it's a file.ts", '-f', 'mp4', 'out.mp4']);
    expect(error.exitCode).toBe(3);
    expect(error.signal).toBeNull();
    expect(error.aborted).toBe(false);
    expect(error.stderrTail).toContain('Invalid data found when processing input');
    expect(error.message).toMatch(/^fake\d+ exited with code 3: .*Invalid data found/);
    expect(error.commandLine).toBe(`${bin} -hide_banner -nostdin -i 'it'\\''s a file.ts' -f mp4 out.mp4`);
  });

  it('ffmpeg exiting 0 after "Error writing trailer" (full disk) is a failure; ffprobe is not checked for it', async () => {
    const said = `printf 'Error writing trailer of /out/x.mp4: No space left on device\\n' >&2; exit 0`;
    const error = await failure(runTool('ffmpeg', [], { env: env('ffmpeg', fake(said)) }));
    expect(error.exitCode).toBe(0);
    expect(error.message).toMatch(/reported a failure: Error writing trailer/);
    await expect(runTool('ffprobe', [], { env: env('ffprobe', fake(said)) })).resolves.toMatchObject({ stdout: '' });
  });

  it.each([
    [['plain', '-c:v', 'a=b,c:d', '/x/y.mp4'], "plain -c:v a=b,c:d /x/y.mp4"],
    [['a b'], "'a b'"],
    [[''], "''"],
    [['$HOME', '`id`', 'a;b', 'a|b'], "'$HOME' '`id`' 'a;b' 'a|b'"],
    [["'"], "''\\'''"],
    [['[0:v:0]scale=2:2[vout]'], "'[0:v:0]scale=2:2[vout]'"],
  ])('commandLine quotes %j', (args, expected) => {
    expect(new FfmpegError(['ffmpeg', ...args], 1, null, '').commandLine).toBe(`ffmpeg ${expected}`);
  });

  it('a tool killed by a signal says so', async () => {
    const error = await failure(runTool('ffprobe', [], { env: env('ffprobe', fake('kill -9 $$')) }));
    expect(error.exitCode).toBeNull();
    expect(error.signal).toBe('SIGKILL');
    expect(error.message).toMatch(/was killed by SIGKILL/);
  });

  it('keeps at most 64 KiB of a 1 MB stderr, ending with the last thing written', async () => {
    const bin = fake(`head -c 1048576 /dev/zero | tr '\\0' 'x' >&2; printf 'THE-END' >&2; exit 1`);
    const error = await failure(runTool('ffmpeg', [], { env: env('ffmpeg', bin) }));
    expect(error.stderrTail.length).toBeLessThanOrEqual(64 * 1024);
    expect(error.stderrTail.endsWith('xxxxTHE-END')).toBe(true);
  });

  it('keeps the full last 64 KiB when a big write is followed by a small one', async () => {
    const bin = fake(`head -c 1048576 /dev/zero | tr '\\0' 'x' >&2; sleep 0.1; printf 'THE-END' >&2; exit 1`);
    const error = await failure(runTool('ffmpeg', [], { env: env('ffmpeg', bin) }));
    expect(error.stderrTail.length).toBe(64 * 1024);
  });
});

describe('runTool: -progress', () => {
  it('parses each block into one onProgress call', async () => {
    const bin = fake(
      [
        `printf 'frame=10\\nfps=0.0\\nout_time_us=500000\\nout_time=00:00:00.500000\\nspeed=1.5x\\nprogress=continue\\n'`,
        `printf 'frame=20\\nout_time_us=N/A\\nspeed=N/A\\nprogress=continue\\n'`,
        // a block split across writes
        `printf 'frame=30\\nout_time_us=1'; sleep 0.1; printf '750000\\nspeed=2.01x\\nprogress=end\\n'`,
      ].join('\n'),
    );
    const seen: FfmpegProgress[] = [];
    await runTool('ffmpeg', [], { env: env('ffmpeg', bin), onProgress: (p) => seen.push(p) });
    expect(seen).toEqual([
      { outTimeMs: 500, speed: 1.5, frame: 10, done: false },
      { outTimeMs: 0, speed: null, frame: 20, done: false },
      { outTimeMs: 1750, speed: 2.01, frame: 30, done: true },
    ]);
  });

  it('accepts the older out_time_ms key (microseconds too) and CRLF lines', async () => {
    const bin = fake(`printf 'out_time_ms=2500000\\r\\nprogress=end\\r\\n'`);
    const seen: FfmpegProgress[] = [];
    await runTool('ffmpeg', [], { env: env('ffmpeg', bin), onProgress: (p) => seen.push(p) });
    expect(seen).toEqual([{ outTimeMs: 2500, speed: null, frame: null, done: true }]);
  });

  it('does not parse ffprobe output as progress', async () => {
    const seen: FfmpegProgress[] = [];
    const { stdout } = await runTool('ffprobe', [], { env: env('ffprobe', fake(`printf 'progress=end\\n'`)), onProgress: (p) => seen.push(p) });
    expect(seen).toEqual([]);
    expect(stdout).toBe('progress=end\n');
  });
});

describe('runTool: cancellation', () => {
  it('an abort kills a running tool and rejects with an aborted error', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 150);
    const error = await failure(runTool('ffmpeg', [], { env: env('ffmpeg', fake('exec sleep 30')), signal: controller.signal }));
    expect(error.aborted).toBe(true);
    expect(error.message).toMatch(/was cancelled$/);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('a tool that ignores SIGTERM is killed after the grace period', async () => {
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 100);
    const error = await failure(runTool('ffmpeg', [], { env: env('ffmpeg', fake(`trap '' TERM; exec sleep 30`)), signal: controller.signal }));
    expect(error.aborted).toBe(true);
    expect(error.signal).toBe('SIGKILL');
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(Date.now() - started).toBeLessThan(8000);
  }, 15_000);

  it('an already aborted signal rejects without starting the tool', async () => {
    const marker = path.join(root, 'started-marker');
    const controller = new AbortController();
    controller.abort();
    const error = await failure(runTool('ffmpeg', [], { env: env('ffmpeg', fake(`touch '${marker}'`)), signal: controller.signal }));
    expect(error.aborted).toBe(true);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('finding the binaries', () => {
  it.each(['ffmpeg', 'ffprobe'] as const)('%s: nothing on an empty PATH -> ToolNotFoundError with an install hint', async (tool) => {
    const missing = await (async () => runTool(tool, [], { env: { PATH: '' } }))().then(
      () => null,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(ToolNotFoundError);
    expect((missing as ToolNotFoundError).tool).toBe(tool);
    expect((missing as Error).message).toContain(tool === 'ffmpeg' ? 'FFMPEG_PATH' : 'FFPROBE_PATH');
    expect((missing as Error).message).toContain(INSTALL_HINT);
    expect((missing as Error).message).toMatch(/apt-get install ffmpeg/);
  });

  it('a missing tool is a rejected promise, not a synchronous throw', () => {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = runTool('ffmpeg', [], { env: { PATH: '' } });
    }).not.toThrow();
    return promise?.catch(() => {});
  });

  it('FFMPEG_PATH pointing at nothing -> ToolNotFoundError', async () => {
    const missing = await runTool('ffmpeg', [], { env: { PATH: '', FFMPEG_PATH: path.join(root, 'no-such-ffmpeg') } }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(ToolNotFoundError);
  });

  it('takes the first executable match on PATH, skipping files that are not executable', () => {
    const a = path.join(root, 'path-a');
    const b = path.join(root, 'path-b');
    mkdirSync(a);
    mkdirSync(b);
    fake('exit 0', 'ffprobe', a, 0o644);
    const good = fake('exit 0', 'ffprobe', b);
    expect(resolveTool('ffprobe', { PATH: [path.join(root, 'nowhere'), a, b].join(path.delimiter) })).toBe(good);
  });

  it('FFPROBE_PATH wins over PATH', () => {
    expect(resolveTool('ffprobe', { PATH: process.env.PATH, FFPROBE_PATH: process.execPath })).toBe(process.execPath);
  });

  it('FFPROBE_PATH pointing at nothing is an error naming the variable, not a silent fallback', () => {
    expect(() => resolveTool('ffprobe', { PATH: process.env.PATH, FFPROBE_PATH: '/opt/x/ffprobe' })).toThrow(/ffprobe not found: FFPROBE_PATH=\/opt\/x\/ffprobe does not exist/);
  });
});
