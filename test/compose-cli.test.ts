// compose / snapshots / merge --also-audio as a user runs them: a real process, its output and exit code.
import { execFile } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseNamesCsv } from '../src/cli/names-file.js';
import { audioBesideName } from '../src/core/output-names.js';
import { beepTimes, probe, regionLumaTimeline } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const SID = '77aa77aa77aa77aa77aa77aa77aa77aa';
const CNAME = 'cli_compose';

function run2(bin: string, args: string[]): Promise<{ stdout: Buffer }> {
  return new Promise((resolve, reject) => {
    execFile(bin, args, { encoding: 'buffer', maxBuffer: 1 << 24 }, (error, stdout) => (error ? reject(error) : resolve({ stdout })));
  });
}

function recmerge(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, FORCE_COLOR: '0' } }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

describe('names', () => {
  it.each([
    ['recmerge-style av', 'a_b__uid_s_1__uid_e_av.mp4', 'a_b__uid_s_1__uid_e_audio.m4a'],
    ['a segment', 'a_b__uid_s_1__uid_e_av_20240506070809123.mp4', 'a_b__uid_s_1__uid_e_audio_20240506070809123.m4a'],
    ["the script's -m 1", '1_0_merge_av.mp4', '1_0_merge.m4a'],
    ["the script's -m 0", 'sid/1_20240506070809123_av.mp4', 'sid/1_20240506070809123.m4a'],
  ])('--also-audio names (%s)', (_, mp4, m4a) => {
    expect(audioBesideName(mp4)).toBe(m4a);
  });

  it('reads a names file (header, quotes, commas in names) and refuses a bad line with its number', () => {
    expect(parseNamesCsv('uid,name\n1001,Ana\r\n2002,"Li, Wei ""the tutor"""\n\n')).toEqual({ '1001': 'Ana', '2002': 'Li, Wei "the tutor"' });
    expect(() => parseNamesCsv('1001,Ana\nbob\n', 'names.csv')).toThrow(/names.csv, line 2/);
  });
});

describe('compose, snapshots and --also-audio on the command line', () => {
  let root: string;
  const markers = [T0 + 1000, T0 + 2500];
  beforeAll(async () => {
    root = await tempDir('compose-cli');
    const video = [{ startMs: T0, durationMs: 3000, width: 160, height: 90, fps: 15 }];
    await writeRecording(root, {
      sid: SID,
      cname: CNAME,
      users: [
        { uid: '10', markers: [markers[0]!], audio: [{ startMs: T0, durationMs: 3000 }], video },
        { uid: '20', markers: [markers[1]!], audio: [{ startMs: T0, durationMs: 3000 }], video },
      ],
    });
    await writeFile(path.join(root, '..', `${path.basename(root)}-names.csv`), 'uid,name\n10,Ana\n20,Bo\n');
  });

  it('compose --names-file draws the names in the tiles; without labels the same place is black', async () => {
    const names = path.join(root, '..', `${path.basename(root)}-names.csv`);
    const labelled = await recmerge(['compose', root, '-o', `${root}-lab`, '--size', '320x180', '--names-file', names, '--json']);
    expect(labelled.code, labelled.stderr).toBe(0);
    const plain = await recmerge(['compose', root, '-o', `${root}-plain`, '--size', '320x180', '--quiet']);
    expect(plain.code, plain.stderr).toBe(0);
    const summary = JSON.parse(labelled.stdout) as { results: { file: string; layoutFile: string; uids: string[] }[] };
    expect(summary.results[0]!.uids).toEqual(['10', '20']);
    const file = summary.results[0]!.file;
    // Two 160x180 tiles; a 160x90 picture in the middle of each; the label sits in the black bar below it.
    const labelArea = [{ x: 6, y: 162, w: 20, h: 12 }, { x: 166, y: 162, w: 16, h: 12 }];
    const at = async (f: string) => (await regionLumaTimeline(f, labelArea)).find((x) => x.t >= 0.5)!.y;
    for (const y of await at(file)) expect(y).toBeGreaterThan(35);
    for (const y of await at(path.join(`${root}-plain`, path.basename(file)))) expect(y).toBeLessThan(20);
    expect(await beepTimes(file)).toHaveLength(2);
  });

  it('compose --names-file draws Chinese names with a font for their script (not empty boxes)', async () => {
    const names = path.join(root, '..', `${path.basename(root)}-names-zh.csv`);
    await writeFile(names, 'uid,name\n10,张伟\n20,李娜\n');
    const run = await recmerge(['compose', root, '-o', `${root}-zh`, '--size', '320x180', '--names-file', names, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const file = (JSON.parse(run.stdout) as { results: { file: string }[] }).results[0]!.file;
    // The label of each tile as grey pixels: two different names in a font that has their glyphs look different;
    // a font without them draws the same empty box for every character, so both labels would be identical.
    const label = async (x: number) =>
      (await run2('ffmpeg', ['-v', 'error', '-ss', '0.5', '-i', file, '-vf', `crop=60:26:${x}:152,format=gray`, '-frames:v', '1', '-f', 'rawvideo', '-'])).stdout;
    const [a, b] = [await label(4), await label(164)];
    expect(a.length).toBe(60 * 26);
    const lit = (px: Buffer) => px.filter((v) => v > 128).length;
    expect(lit(a)).toBeGreaterThan(20);
    expect(lit(b)).toBeGreaterThan(20);
    const differing = a.reduce((n, v, i) => n + (Math.abs(v - b[i]!) > 64 ? 1 : 0), 0);
    expect(differing).toBeGreaterThan(40);
  });

  it('usage errors exit 2', async () => {
    expect((await recmerge(['compose', root, '-o', `${root}-x`, '--gaps', 'cut'])).code).toBe(2);
    expect((await recmerge(['compose', root, '-o', `${root}-x`, '--max-tiles', '0'])).code).toBe(2);
    expect((await recmerge(['compose', root, '-o', `${root}-x`, '--names-file', path.join(root, 'nope.csv')])).code).toBe(2);
    expect((await recmerge(['snapshots', root, '-o', `${root}-x`])).code).toBe(2);
  });

  it('snapshots --every 1 writes one picture per user per second', async () => {
    const { code, stderr } = await recmerge(['snapshots', root, '-o', `${root}-snap`, '--every', '1', '--quiet']);
    expect(code, stderr).toBe(0);
    const files = (await readdir(`${root}-snap`)).filter((f) => f.endsWith('.jpg'));
    expect(files).toHaveLength(6);
  });

  it('merge --also-audio writes the .m4a beside each MP4, with the beeps where the MP4 has them', async () => {
    const { code, stdout, stderr } = await recmerge(['merge', root, '-o', `${root}-merge`, '--also-audio', '--json']);
    expect(code, stderr).toBe(0);
    const results = (JSON.parse(stdout) as { results: { uid: string; file: string; audioFile: string }[] }).results;
    expect(results).toHaveLength(2);
    for (const r of results) {
      expect(path.basename(r.audioFile)).toBe(`${SID}_${CNAME}__uid_s_${r.uid}__uid_e_audio.m4a`);
      const info = await probe(r.audioFile);
      expect(info.video).toBeUndefined();
      expect(info.audio?.codec).toBe('aac');
      const [inMp4, inM4a] = [await beepTimes(r.file), await beepTimes(r.audioFile)];
      expect(inM4a).toHaveLength(1);
      expect(Math.abs(inM4a[0]! - inMp4[0]!)).toBeLessThan(0.002);
    }
    // Run again: everything exists and is left alone, the .m4a included.
    const again = await recmerge(['merge', root, '-o', `${root}-merge`, '--also-audio', '--json']);
    expect(again.code).toBe(0);
    expect((JSON.parse(again.stdout) as { results: { skipped: boolean; audioFile: string }[] }).results.every((r) => r.skipped && r.audioFile)).toBe(true);
  });
});
