// cnames that try to drive the terminal, and cnames too long for any file system: outputs get safe,
// unique names, nothing unprintable reaches stdout/stderr, and the media is merged all the same.
import { execFile } from 'node:child_process';
import { readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { composeRecordings, mergeRecordings, snapshotRecordings } from '../src/api.js';
import { MAX_NAME_BYTES } from '../src/core/output-names.js';
import { LocalFolderSource } from '../src/storage/local.js';
import type { RecordingSource } from '../src/storage/source.js';
import { probe } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const SID = '9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a9a';
const CNAME = 'plain';
// (No line breaks: a playlist lists one name per line, and ffmpeg's concat lists cannot hold them.)
const HOSTILE = 'a\u001b[2J\u001b]0;pwned\u0007\u009b31m\u202eb\u0008\u007f';

let plain: string;

/** A copy of the plain recording whose cname is `cname` in every name and playlist. */
async function renamedCopy(cname: string, label: string): Promise<string> {
  const dir = await tempDir(label);
  await writeRecording(dir, users());
  for (const name of await readdir(dir)) {
    const renamed = name.replace(`_${CNAME}__uid_s_`, `_${cname}__uid_s_`);
    if (name.endsWith('.m3u8')) await writeFile(path.join(dir, name), (await readFile(path.join(dir, name), 'utf8')).split(`_${CNAME}__uid_s_`).join(`_${cname}__uid_s_`));
    await rename(path.join(dir, name), path.join(dir, renamed));
  }
  return dir;
}

const users = () => ({
  sid: SID,
  cname: CNAME,
  users: [{ uid: '3', audio: [{ startMs: T0, durationMs: 4000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 4000, sliceMs: 2000, width: 160, height: 90, fps: 15 }] }],
});

/** The plain recording seen through keys carrying another cname (names no local file system could hold). */
function renamingSource(root: string, cname: string): RecordingSource {
  const local = new LocalFolderSource(root);
  const to = (key: string) => key.replace(`_${CNAME}__uid_s_`, `_${cname}__uid_s_`);
  const from = (key: string) => key.replace(`_${cname}__uid_s_`, `_${CNAME}__uid_s_`);
  return {
    description: `renamed ${root}`,
    list: async (signal) => (await local.list(signal)).map((o) => ({ ...o, key: to(o.key) })),
    readText: async (key, signal) => (await local.readText(from(key), signal)).split(`_${CNAME}__uid_s_`).join(`_${cname}__uid_s_`),
    materialize: async (keys, options) => {
      const got = await local.materialize(keys.map(from), options);
      return { paths: new Map([...got.paths].map(([k, v]) => [to(k), v])), missing: new Map([...got.missing].map(([k, v]) => [to(k), v])) };
    },
    dispose: () => local.dispose(),
  };
}

const run = (args: string[]) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', CLI, ...args], { env: { ...process.env, FORCE_COLOR: '0' } }, (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
    );
  });

// eslint-disable-next-line no-control-regex
const UNPRINTABLE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e]/;

beforeAll(async () => {
  plain = await tempDir('names-plain');
  await writeRecording(plain, users());
});

describe('hostile cnames', () => {
  it('escape sequences in a cname reach neither file names nor the terminal', async () => {
    const source = await renamedCopy(HOSTILE, 'names-ctl');
    const out = await tempDir('names-ctl-out');
    const inspect = await run(['inspect', source]);
    const merged = await run(['merge', source, '-o', out, '-q']);
    const dry = await run(['merge', source, '-o', out, '--dry-run']);
    for (const r of [inspect, merged, dry]) {
      expect(r.stdout + r.stderr, JSON.stringify(r)).not.toMatch(UNPRINTABLE);
    }
    expect(inspect.stdout).toContain('\\x1b[2J');
    expect(merged.code, merged.stdout + merged.stderr).toBe(0);
    const files = await readdir(out);
    expect(files.filter((f) => f.endsWith('.mp4'))).toHaveLength(1);
    for (const f of files) expect(f).not.toMatch(UNPRINTABLE);
    const media = await probe(path.join(out, files.find((f) => f.endsWith('.mp4'))!));
    expect(media.video?.codec).toBe('h264');
    expect(media.audio?.codec).toBe('aac');
  });

  it('composites and snapshots get the same safe names, and print nothing raw', async () => {
    const source = await renamedCopy(HOSTILE, 'names-ctl-every');
    for (const command of [['compose', '--size', '320x180'], ['snapshots', '--every', '1']]) {
      const out = await tempDir(`names-ctl-${command[0]}`);
      for (const args of [[command[0]!, source, '-o', out, ...command.slice(1)], [command[0]!, source, '-o', out, ...command.slice(1), '--dry-run']]) {
        const r = await run(args);
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout + r.stderr, JSON.stringify(r)).not.toMatch(UNPRINTABLE);
      }
      const files = await readdir(out);
      expect(files.filter((f) => /\.(mp4|jpg)$/.test(f)).length, command[0]).toBeGreaterThan(0);
      for (const f of files) expect(f).not.toMatch(UNPRINTABLE);
    }
  });

  it('a cname of 85 \'é\' (legal on disk, 170 bytes) composes and snapshots: names are shortened with a hash', async () => {
    const source = await renamedCopy('é'.repeat(85), 'names-e');
    const out = await tempDir('names-e-out');
    const composed = await composeRecordings({ source, outDir: out, size: { width: 320, height: 180 } });
    expect(composed.ok, JSON.stringify(composed.results)).toBe(true);
    const shots = await snapshotRecordings({ source, outDir: out, every: 1 });
    expect(shots.ok, JSON.stringify(shots.results)).toBe(true);
    expect(shots.results[0]!.files.length).toBe(4);
    for (const f of await readdir(out)) expect(Buffer.byteLength(f), f).toBeLessThanOrEqual(MAX_NAME_BYTES + '.layout.json'.length + '..recmerge.json'.length);
    expect((await probe(composed.results[0]!.file!)).durationS).toBeGreaterThan(3.5);
    expect(path.basename(composed.results[0]!.file!)).toMatch(/~[0-9a-f]{12}~.*__composite\.mp4$/);
  });

  it('a 900-character cname gives a short, unique output name (no ENAMETOOLONG)', async () => {
    const out = await tempDir('names-long-out');
    const results = [];
    for (const c of ['x', 'y']) {
      const summary = await mergeRecordings({ source: renamingSource(plain, c.repeat(900)), outDir: out });
      expect(summary.ok, JSON.stringify(summary.results)).toBe(true);
      results.push(summary.results[0]!);
    }
    const names = results.map((r) => path.basename(r.file!));
    expect(new Set(names).size).toBe(2);
    for (const n of names) {
      expect(Buffer.byteLength(n)).toBeLessThanOrEqual(MAX_NAME_BYTES);
      expect(n).toMatch(/~[0-9a-f]{12}~__uid_s_3__uid_e_av\.mp4$/);
    }
    for (const r of results) expect((await probe(r.file!)).durationS).toBeGreaterThan(3.5);
    // Beside each output its rerun record (`.<name>.recmerge.json`) and its events sidecars: no other file.
    expect((await readdir(out)).sort()).toEqual([...names, ...names.flatMap((n) => [`.${n}.recmerge.json`, `${n}.events.json`, `${n}.chapters.vtt`])].sort());
  });
});
