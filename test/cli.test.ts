// The CLI as a user runs it: the built binary in a real process, its stdout, stderr and exit code.
import { execFile, spawn } from 'node:child_process';
import { mkdir, readdir, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { BIN, recmerge } from './support/cli.js';
import { probe } from './support/measure.js';
import { playlistName, writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const SID = '1234abcd1234abcd1234abcd1234abcd';
const media = (names: string[]) => names.filter((f) => f.endsWith('.mp4') || f.endsWith('.m4a'));

describe('recmerge CLI', () => {
  let root: string;
  let gappy: string;
  let missingKey: string;
  beforeAll(async () => {
    root = await tempDir('cli');
    const video = [{ startMs: T0, durationMs: 2000, width: 160, height: 90, fps: 15 }];
    await writeRecording(root, {
      sid: SID,
      cname: 'cli_room',
      users: [
        { uid: '10', audio: [{ startMs: T0, durationMs: 2000 }], video },
        { uid: '20', audio: [{ startMs: T0, durationMs: 2000 }], video },
      ],
    });
    await writeFile(path.join(root, 'readme.txt'), 'not a recording');
    // A recording whose storage lacks a slice its playlist lists: the time becomes a gap, with a warning.
    gappy = await tempDir('cli-gappy');
    const written = await writeRecording(gappy, {
      sid: SID,
      cname: 'cli_room',
      users: [{ uid: '10', audio: [{ startMs: T0, durationMs: 3000, sliceMs: 1000 }], video: [{ startMs: T0, durationMs: 3000, width: 160, height: 90, fps: 15, sliceMs: 1000 }] }],
    });
    const lost = written.slices.find((s) => s.media === 'audio' && s.startMs > T0 + 500)!;
    missingKey = lost.key;
    await rm(lost.path);
  });

  it('merge --json prints a machine summary and exits 0 when every output is written', async () => {
    const { code, stdout } = await recmerge(['merge', root, '-o', `${root}-json`, '--json']);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    expect(summary.ok).toBe(true);
    expect(summary.results.map((r: { uid: string }) => r.uid).sort()).toEqual(['10', '20']);
    expect(summary.results[0]).toMatchObject({ videoPath: 'copy', audioPath: 'copy', error: null });
    expect(summary.ignored).toEqual([{ key: 'readme.txt', reason: expect.stringContaining('not a recording file') }]);
  });

  it('exits 1 when some outputs failed, still writing the others; failures go to stderr, naming the broken file', async () => {
    const broken = await tempDir('cli-broken');
    await writeRecording(broken, {
      sid: SID,
      cname: 'cli_room',
      users: [{ uid: '10', audio: [{ startMs: T0, durationMs: 2000 }] }, { uid: '20', audio: [{ startMs: T0, durationMs: 2000 }] }],
    });
    await writeFile(path.join(broken, playlistName({ sid: SID, cname: 'cli_room' }, '20', 'audio')), 'garbage instead of a playlist');
    const { code, stdout, stderr } = await recmerge(['merge', broken, '-o', `${broken}-out`, '--quiet']);
    expect(code).toBe(1);
    expect(stdout).toMatch(/✓ .*__uid_s_10__uid_e_audio\.m4a/);
    expect(stdout).not.toMatch(/✗/);
    expect(stderr).toMatch(/✗ .*\/20 \(uid 20\): /);
    expect(stderr).toMatch(/__uid_s_20__uid_e_audio\.m3u8/);
    expect(stderr.includes('\u001b[')).toBe(false); // no colour off a terminal
  });

  it('-q silences progress only: a slice missing from storage is still reported on stderr', async () => {
    const quiet = await recmerge(['merge', gappy, '-o', `${gappy}-q`, '-q']);
    expect(quiet.code).toBe(0);
    expect(quiet.stdout).toMatch(/✓ .*__uid_s_10__uid_e_av\.mp4/);
    expect(quiet.stderr).toContain(path.basename(missingKey));
    expect(quiet.stderr).not.toMatch(/recmerge: reading|: merge \d+%|: download/);
    const loud = await recmerge(['merge', gappy, '-o', `${gappy}-loud`]);
    expect(loud.stderr).toContain(path.basename(missingKey));
    expect(loud.stderr).toMatch(/recmerge: reading .*\nrecmerge: 1 output\(s\) to make/);
    expect(loud.stderr).toMatch(/uid 10: merge \d+%/);
    // With --json, stdout is the JSON alone, and the warning still reaches stderr.
    const json = await recmerge(['merge', gappy, '-o', `${gappy}-json`, '--json', '-q']);
    expect(JSON.parse(json.stdout).ok).toBe(true);
    expect(json.stderr).toContain(path.basename(missingKey));
  });

  it('a recording of many runs prints no Node warning (every read in flight listens to the run\'s signal)', async () => {
    const many = path.join(root, '..', 'cli-many');
    // 16 runs, whose first slices' facts are read at once.
    const run = (i: number) => ({ startMs: T0 + i * 1500, durationMs: 1000 });
    const users = ['1', '2', '3', '4'].map((uid) => ({ uid, audio: [run(0), run(1)], video: [run(0), run(1)].map((r) => ({ ...r, width: 160, height: 90, fps: 15 })) }));
    await writeRecording(many, { sid: SID, cname: 'cli_many', users });
    const merged = await recmerge(['merge', many, '-o', `${many}-out`, '-q']);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stderr).not.toMatch(/Warning|MaxListeners/);
  });

  it('a rerun skips an output only when it was made from the same inputs and options, and says why it redoes one', async () => {
    const out = `${root}-rerun`;
    const first = await recmerge(['merge', root, '-o', out, '--uid', '10', '-q']);
    expect(first.code).toBe(0);
    const names = await readdir(out);
    expect(names.filter((n) => n.endsWith('.recmerge.json'))).toHaveLength(1);
    const file = path.join(out, media(names)[0]!);
    expect((await probe(file)).video).toMatchObject({ width: 160, height: 90 });

    const same = await recmerge(['merge', root, '-o', out, '--uid', '10', '-q', '--json']);
    expect(JSON.parse(same.stdout).results[0]).toMatchObject({ skipped: true });

    const resized = await recmerge(['merge', root, '-o', out, '--uid', '10', '-q', '--size', '80x46']);
    expect(resized.code).toBe(0);
    expect(resized.stdout).toMatch(/✓ .*remade: options changed \(.*size unset → "80x46"\)/);
    expect((await probe(file)).video).toMatchObject({ width: 80, height: 46 });

    // An input that changed (here: the same bytes written again, a new modification time) remakes it.
    const slice = (await readdir(root)).find((n) => /__uid_s_10__uid_e_video_\d{17}\.ts$/.test(n))!;
    await utimes(path.join(root, slice), new Date(), new Date(Date.now() + 5000));
    const touched = await recmerge(['merge', root, '-o', out, '--uid', '10', '-q', '--size', '80x46', '--json']);
    expect(JSON.parse(touched.stdout).results[0]).toMatchObject({ skipped: false, remade: 'remade: inputs changed (1 with another size, ETag or modification time)' });

    // The file replaced behind recmerge's back is made again too.
    await writeFile(file, 'not the merged file');
    const replaced = await recmerge(['merge', root, '-o', out, '--uid', '10', '-q', '--size', '80x46', '--json']);
    expect(JSON.parse(replaced.stdout).results[0]).toMatchObject({ skipped: false, remade: expect.stringContaining('changed after recmerge wrote it') });

    const forced = await recmerge(['merge', root, '-o', out, '--uid', '10', '-q', '--size', '80x46', '--force', '--json']);
    expect(JSON.parse(forced.stdout).results[0]).toMatchObject({ skipped: false });
  });

  it('exits 2 on usage errors, before any work, with one clear line', async () => {
    const out = await tempDir('cli-usage');
    const aFile = path.join(await tempDir('cli-usage-file'), 'taken');
    await writeFile(aFile, 'a file where a folder is wanted');
    const noWork = async () => expect(media(await readdir(out).catch(() => []))).toEqual([]);
    const link = path.join(await tempDir('cli-usage-link'), 'link-to-source');
    await symlink(root, link);
    expect((await recmerge(['merge', root])).code).toBe(2); // no -o
    expect((await recmerge(['merge', root, '-o', out, '--gaps', 'sometimes'])).code).toBe(2);
    expect((await recmerge(['merge', root, '-o', out, '--fps', '0'])).code).toBe(2);
    const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
      [['merge', path.join(root, 'nope'), '-o', out], {}, /nope: no such folder/],
      [['merge', path.join(root, 'readme.txt'), '-o', out], {}, /readme\.txt: is a file, not a folder/],
      [['merge', root, '-o', aFile], {}, /output .*taken is an existing file, not a folder/],
      [['merge', root, '-o', path.join(root, 'merged')], {}, /output folder .*merged is inside the source folder/],
      [['merge', root, '-o', root], {}, /is inside the source folder/],
      [['merge', root, '-o', path.join(aFile, 'sub')], {}, /output folder .*taken\/sub cannot be made: .*taken is a file/],
      // Judged by where it resolves: a link to the recording is the recording (issue 18).
      [['merge', root, '-o', link], {}, /output folder .*link-to-source is inside the source folder .* \(it resolves to .*\)/],
      [['merge', root, '-o', path.join(link, 'merged')], {}, /is inside the source folder/],
      // A folder that can never be made is found at once (Node's recursive mkdir spins forever under /proc).
      [['merge', root, '-o', '/proc/recmerge-x/out'], {}, /output folder \/proc\/recmerge-x\/out cannot be made: \/proc is on proc/],
      [['merge', root, '-o', out, '--preset', 'superduper'], {}, /invalid preset "superduper": use one of recmerge, ultrafast, .*veryslow/],
      [['merge', root, '-o', out], { FFPROBE_PATH: '/nonexistent/ffprobe' }, /ffprobe not found: FFPROBE_PATH=\/nonexistent\/ffprobe does not exist/],
      [['merge', root, '-o', out], { FFMPEG_PATH: root }, /ffmpeg not found: FFMPEG_PATH=.* is not a file/],
      [['merge', root, '-o', out], { FFMPEG_PATH: '/bin/true' }, /\/bin\/true does not look like ffmpeg/],
      [['merge', root, '-o', out, '--uid', '10', '4242'], {}, /no UID 4242 in this recording: the recording has UID 10, 20/],
      [['merge', root, '-o', out, '--upload', 's3://results/merged', '--endpoint', 'http://127.0.0.1:9', '--path-style'], { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' }, /cannot upload to s3:\/\/results\/merged: .*s3:\/\/results/],
      [['merge', root, '-o', out, '--upload', 'https://example.invalid/x'], {}, /--upload must be an s3:\/\/bucket\/prefix URL/],
    ];
    for (const [args, env, message] of cases) {
      const run = await recmerge([...args, '-q'], env);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
      await noWork();
    }
    expect(media(await readdir(root))).toEqual([]);
  });

  it('--json keeps stdout pure JSON, usage errors included', async () => {
    for (const args of [['merge', root, '--json'], ['merge', root, '-o', 'x', '--json', '--preset', 'nope'], ['merge', root, '-o', 'x', '--json', '--mode', 'both']]) {
      const run = await recmerge(args);
      expect(run.code).toBe(2);
      const parsed = JSON.parse(run.stdout);
      expect(parsed).toMatchObject({ ok: false, exitCode: 2, error: expect.any(String) });
    }
  });

  it('--verbose prints every ffmpeg/ffprobe command line so that it can be run again by hand', async () => {
    const { code, stderr } = await recmerge(['merge', root, '-o', `${root}-verbose`, '--uid', '20', '--verbose', '-q']);
    expect(code).toBe(0);
    const commands = stderr.split('\n').filter((l) => l.startsWith('$ ')).map((l) => l.slice(2));
    expect(commands.some((c) => /\/ffmpeg .*-f concat .*-movflags \+faststart -f mp4 /.test(c))).toBe(true);
    // The slices' facts are read in-process; ffprobe reads the written file back before it is renamed.
    const probeLine = commands.find((c) => /\/ffprobe .*-of json /.test(c))!;
    expect(probeLine).toBeDefined();
    // A shell splits the printed line into exactly the arguments that ran (the file has since been renamed).
    const [binary, ...rest] = (await promisify(execFile)('/bin/sh', ['-c', `printf '%s\\0' ${probeLine}`])).stdout.split('\0').slice(0, -1);
    expect(rest.slice(0, -1)).toEqual(['-v', 'error', '-show_entries', 'format=duration:stream=codec_type', '-of', 'json']);
    expect(path.dirname(rest.at(-1)!)).toBe(`${root}-verbose`);
    expect((await promisify(execFile)(binary!, ['-version'])).stdout).toMatch(/^ffprobe version/);
  });

  it('--progress-json writes one JSON event per line, on stderr or on a given file descriptor', async () => {
    const { code, stderr } = await recmerge(['merge', root, '-o', `${root}-pj`, '--progress-json']);
    expect(code).toBe(0);
    const events = stderr.trim().split('\n').map((l) => JSON.parse(l) as { event: string; uid?: string; phase?: string; outputs?: unknown[] });
    expect(events[0]!.event).toBe('start');
    expect(events.find((e) => e.event === 'plan')!.outputs).toHaveLength(2);
    expect(new Set(events.filter((e) => e.event === 'progress').map((e) => e.uid))).toEqual(new Set(['10', '20']));
    expect(events.filter((e) => e.phase === 'done')).toHaveLength(2);
    expect(events.find((e) => e.event === 'end')).toMatchObject({ event: 'end', ok: true, outputs: 2, failed: 0 });
    expect(events.find((e) => e.event === 'message')).toMatchObject({ kind: 'note', text: expect.stringContaining('Ignored 1 non-recording file') });

    const child = spawn(process.execPath, [BIN, 'merge', root, '-o', `${root}-pj3`, '--progress-json', '3', '-q'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    let fd3 = '';
    child.stdio[3]!.on('data', (d: Buffer) => (fd3 += d.toString()));
    const exit = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(exit).toBe(0);
    expect(fd3.trim().split('\n').map((l) => JSON.parse(l).event)).toContain('end');
  });

  it('says which UIDs exist when none requested is there, and that an empty folder holds no recording (exit 2, nothing created)', async () => {
    const { code, stderr } = await recmerge(['merge', root, '-o', `${root}-none`, '--uid', '999', '--quiet']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/no UID 999 in this recording: the recording has UID 10, 20/);
    const empty = await tempDir('cli-empty');
    await mkdir(path.join(empty, 'sub'));
    // Nothing found is a problem found before any work, for every command: exit 2, nothing created.
    for (const command of [['merge'], ['compose'], ['snapshots', '--every', '1']]) {
      const none = await recmerge([command[0]!, empty, '-o', `${empty}-out`, ...command.slice(1), '-q']);
      expect({ command, code: none.code }).toEqual({ command, code: 2 });
      expect(none.stderr).toMatch(/no recording found in .*: no files at all/);
      await expect(stat(`${empty}-out`)).rejects.toThrow(/ENOENT/);
    }
    const inspected = await recmerge(['inspect', empty]);
    expect(inspected.code).toBe(2);
    expect(inspected.stderr).toMatch(/no recording found in .*: no files at all/);
  });

  it('inspect shows sessions, users, tracks and ignored files without merging', async () => {
    const { code, stdout } = await recmerge(['inspect', root]);
    expect(code).toBe(0);
    expect(stdout).toContain(`session ${SID}  cname cli_room`);
    expect(stdout).toMatch(/uid 10 .*2024-05-06 07:08:09\.123/);
    expect(stdout).toMatch(/video: \d+ slices, H\.264, 160x90/);
    expect(stdout).toContain('readme.txt: not a recording file');
    const json = JSON.parse((await recmerge(['inspect', root, '--json'])).stdout);
    expect(json.sessions[0].uids).toHaveLength(2);
  });

  it('--dry-run prints the plan and the path each output would take', async () => {
    const { code, stdout } = await recmerge(['merge', root, '-o', `${root}-dry`, '--dry-run', '--gaps', 'black', '--fps', '10']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/video: transcode because --fps asks for a constant frame rate/);
    expect(stdout).toMatch(/audio: copy/);
  });

  it('--help of every command ends with real examples', async () => {
    for (const command of [[], ['merge'], ['inspect'], ['compose'], ['snapshots'], ['worker'], ['enqueue'], ['serve']]) {
      const { code, stdout } = await recmerge([...command, '--help']);
      expect(code).toBe(0);
      const tail = stdout.trimEnd().split('Examples:\n')[1];
      expect(tail, `recmerge ${command.join(' ')} --help`).toBeDefined();
      const examples = tail!.split('\n');
      expect(examples.length).toBeGreaterThanOrEqual(2);
      expect(examples.length).toBeLessThanOrEqual(8);
      for (const e of examples) expect(e).toMatch(new RegExp(`^  \\$ (\\w+=\\S+ )?recmerge ${command[0] ?? ''}`));
    }
  });
});
