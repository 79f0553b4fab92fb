// Fuzzing: mutated playlists and slices (fixed seeds), each case run through the real CLI. Every case
// must end within a time bound with exit 0, 1 or 2 and a message, leave no temporary file, and every
// output it reports must be a readable file with the streams it claims; nothing else may stand in the
// output folder.
//   npx vitest run test/fuzz.test.ts                          (a handful of cases)
//   RECMERGE_FUZZ_CASES=200 npx vitest run test/fuzz.test.ts  (the slow suite; RECMERGE_FUZZ_SEED shifts the seeds)
// Among the mutations: slice names moved far apart (90 s, a day, a month, a year either way; the file, its
// playlist entry or both) and #EXTINF values far beyond a slice's media (100, 86400, 1e6).
import { cp, readdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MergeSummary } from '../src/options.js';
import { PARTIAL_MARKER } from '../src/storage/leftovers.js';
import { formatUtc17, parseUtc17 } from '../src/core/names.js';
import { rng, runCli, type Rng } from './support/fuzz.js';
import { probe } from './support/measure.js';
import { writeRecording } from './support/recording-fixture.js';
import { T0, tempDir } from './support/sync.js';

const CLI = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
const CASES = Number(process.env.RECMERGE_FUZZ_CASES ?? 4);
const FIRST_SEED = Number(process.env.RECMERGE_FUZZ_SEED ?? 1);
const CASE_TIMEOUT_MS = 60_000;


const BAD_EXTINF = ['0', '-1', '-0.5', 'abc', 'NaN', 'Infinity', '', '1e-9', '0.001', '2.5', '15', '1,title', '2.000,', '  3 ', '1e1', '0x10', '100', '86400', '1e6'];
/** Far moves of a slice's name (ms). Beyond a day (`--max-gap` 24 h) the user is split into outputs. */
const FAR_MOVES = [90_000, 25 * 3_600_000, 30 * 86_400_000, 365 * 86_400_000, -365 * 86_400_000];
/** What a far move may add to an output's length (s): only moves within a day keep one output. */
const addedSpanS = (moveMs: number) => (Math.abs(moveMs) < 86_400_000 ? Math.abs(moveMs) / 1000 : 0);

/** A slice name with its UTC moved by `ms` (unchanged if it carries none). */
const moveName = (name: string, ms: number) =>
  name.replace(/(\d{17})(\.\w+)$/, (whole, utc: string, ext: string) => {
    const at = parseUtc17(utc);
    return at === null ? whole : `${formatUtc17(at + ms)}${ext}`;
  });
const GARBAGE_LINES = [
  '#EXT-X-AGORA-ROTATE:WIDTH=abc,HEIGHT=-1,ROTATE=45,TIME=zzz',
  '#EXT-X-AGORA-ROTATE:WIDTH=90,HEIGHT=160,ROTATE=90,TIME=1714979289123',
  '#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO,TIME=99999999999999999',
  '#EXT-X-AGORA-TRACK-EVENT:',
  '#EXT-X-DISCONTINUITY',
  '#EXTINF:',
  '#EXT-X-ENDLIST',
  '#EXTM3U',
  'not_a_slice.ts',
  '../../../etc/passwd',
  'ffffffff_x__uid_s_1__uid_e_video_20240506070809123.ts',
  '\u0000\u0001\u001b[2J',
  '\uFFFD\uFFFD',
  'é'.repeat(300),
];

/** One mutation of a playlist's text; `moved` learns a far move it made (ms). */
function mutatePlaylist(text: string, r: Rng, moved: (ms: number) => void): string {
  const lines = text.split('\n');
  const at = () => r.int(lines.length);
  switch (r.int(11)) {
    case 0:
      lines.splice(at(), 1);
      break;
    case 1: {
      const i = at();
      lines.splice(i, 0, lines[i]!);
      break;
    }
    case 2: {
      const [i, j] = [at(), at()];
      [lines[i], lines[j]] = [lines[j]!, lines[i]!];
      break;
    }
    case 3: {
      const infs = lines.map((l, i) => (l.startsWith('#EXTINF') ? i : -1)).filter((i) => i >= 0);
      if (infs.length) lines[r.pick(infs)] = `#EXTINF:${r.pick(BAD_EXTINF)}`;
      break;
    }
    case 4:
      lines.splice(at(), 0, r.pick(GARBAGE_LINES));
      break;
    case 5:
      return text.slice(0, r.int(text.length));
    case 6:
      return lines.filter((l) => !l.startsWith('#EXT-X-ENDLIST')).join('\n');
    case 7: {
      // Move a slice name by up to ±999 ms (its last three digits), or far (its file keeps its name).
      const names = lines.map((l, i) => (/_\d{17}\.(ts|webm)$/.test(l) ? i : -1)).filter((i) => i >= 0);
      if (names.length) {
        const i = r.pick(names);
        if (r.next() < 0.5) {
          lines[i] = lines[i]!.replace(/(\d{14})(\d{3})(\.\w+)$/, (_, head: string, _ms: string, ext: string) => `${head}${String(r.int(1000)).padStart(3, '0')}${ext}`);
        } else {
          const ms = r.pick(FAR_MOVES);
          lines[i] = moveName(lines[i]!, ms);
          moved(ms);
        }
      }
      break;
    }
    case 8:
      return '';
    case 9:
      return text.replace('#EXTM3U', r.pick(['', '#EXTM3', '\uFEFF#EXTM3U', ' #EXTM3U']));
    default:
      return lines.map((l) => (l.startsWith('#EXTINF') && r.next() < 0.5 ? `#EXTINF:${r.pick(BAD_EXTINF)}` : l)).join('\n');
  }
  return lines.join('\n');
}

/** One mutation of a slice file. */
async function mutateSlice(file: string, r: Rng): Promise<void> {
  const data = await readFile(file);
  switch (r.int(7)) {
    case 0:
      await truncate(file, r.int(data.length));
      return;
    case 1: {
      for (let n = 0; n < 1 + r.int(64); n++) data[r.int(data.length)] = r.int(256);
      break;
    }
    case 2: {
      const from = r.int(data.length);
      data.fill(0, from, Math.min(data.length, from + r.int(4096)));
      break;
    }
    case 3:
      await rm(file);
      return;
    case 4:
      await writeFile(file, r.pick(['<html><body>503 Service Unavailable</body></html>', '', '\u0047garbage', 'x'.repeat(188 * 3)]));
      return;
    case 5:
      await writeFile(file, Buffer.concat([data, Buffer.from('trailing junk'.repeat(r.int(100)))]));
      return;
    default: {
      // A TS packet boundary in the middle of nowhere: cut at a packet, keep the tail only.
      const cut = 188 * r.int(Math.max(1, Math.floor(data.length / 188)));
      await writeFile(file, data.subarray(cut));
      return;
    }
  }
  await writeFile(file, data);
}

/** Mutates a copy of the recording: what was done, and how much longer than the recording an output may be (s). */
async function mutate(dir: string, r: Rng): Promise<{ done: string[]; addedS: number }> {
  const names = await readdir(dir);
  const playlists = names.filter((n) => n.endsWith('.m3u8'));
  const slices = names.filter((n) => n.endsWith('.ts') || n.endsWith('.webm'));
  const done: string[] = [];
  let addedS = 0;
  const moved = (ms: number) => {
    addedS += addedSpanS(ms);
    done.push(`moved by ${ms / 1000} s`);
  };
  for (let n = 0; n < 1 + r.int(4); n++) {
    const kind = r.int(11);
    if (kind < 5 && playlists.length) {
      const p = r.pick(playlists);
      const file = path.join(dir, p);
      await writeFile(file, mutatePlaylist(await readFile(file, 'utf8').catch(() => ''), r, moved));
      done.push(`playlist ${p}`);
    } else if (kind === 10 && slices.length) {
      // A slice file and its playlist entries moved far together: the media is there, at a far instant.
      const s = r.pick(slices);
      const ms = r.pick(FAR_MOVES);
      await rename(path.join(dir, s), path.join(dir, moveName(s, ms))).catch(() => undefined);
      for (const p of playlists) {
        const file = path.join(dir, p);
        const text = await readFile(file, 'utf8').catch(() => null);
        if (text?.includes(s)) await writeFile(file, text.split(s).join(moveName(s, ms)));
      }
      moved(ms);
      done.push(`slice ${s} renamed`);
    } else if (kind < 9 && slices.length) {
      const s = r.pick(slices);
      await mutateSlice(path.join(dir, s), r).catch(() => undefined);
      done.push(`slice ${s}`);
    } else {
      await writeFile(path.join(dir, r.pick(['junk.txt', 'x__uid_s_1__uid_e_av.m3u8', `${'b'.repeat(32)}_room__uid_s_9__uid_e_audio.m3u8`])), r.pick(GARBAGE_LINES));
      done.push('junk file');
    }
  }
  return { done, addedS };
}

const runCliCase = (args: string[]) => runCli(CLI, args, CASE_TIMEOUT_MS);

let base: string;
/** How the cases ended (printed at the end: a fuzz run where everything exits 0 proves little). */
const endings = new Map<string, number>();
afterAll(() => console.log(`fuzz endings: ${JSON.stringify(Object.fromEntries([...endings].sort()))}`));

beforeAll(async () => {
  base = await tempDir('fuzz-base');
  await writeRecording(base, {
    sid: 'f00df00df00df00df00df00df00df00d',
    cname: 'fuzz_room',
    users: [
      { uid: '1', audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15 }] },
      { uid: '2', audio: [{ startMs: T0 + 1000, durationMs: 4000, sliceMs: 2000, channels: 2 }] },
    ],
  });
});

describe(`fuzz: ${CASES} mutated recordings (seeds ${FIRST_SEED}..${FIRST_SEED + CASES - 1})`, () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
    it(`seed ${seed}`, { timeout: CASE_TIMEOUT_MS * 3 }, async () => {
      const r = rng(seed);
      const dir = await tempDir(`fuzz-${seed}`);
      await cp(base, dir, { recursive: true });
      const { done: what, addedS } = await mutate(dir, r);
      if (what.some((w) => w.startsWith('moved by'))) endings.set('cases with a far move', (endings.get('cases with a far move') ?? 0) + 1);
      const out = `${dir}-out`;
      const args = ['merge', dir, '-o', out, '--json', '-q', ...(r.next() < 0.3 ? ['--transcode'] : []), ...(r.next() < 0.2 ? ['--gaps', 'black'] : [])];
      const started = Date.now();
      const res = await runCliCase(args);
      const context = `seed ${seed}: ${what.join(', ')}; recmerge ${args.join(' ')} -> exit ${res.code} after ${Date.now() - started} ms\nstderr: ${res.stderr.slice(-2000)}`;
      expect(res.timedOut, context).toBe(false);
      expect([0, 1, 2], context).toContain(res.code);
      endings.set(`exit ${res.code}`, (endings.get(`exit ${res.code}`) ?? 0) + 1);

      let summary: MergeSummary | null;
      try {
        summary = JSON.parse(res.stdout) as MergeSummary;
      } catch {
        summary = null;
      }
      if (res.code === 0) {
        expect(summary?.ok, context).toBe(true);
      } else if (summary) {
        // A failed run says why: each failed output carries a message, or the source had nothing to merge.
        const failed = summary.results.filter((x) => x.error !== null);
        expect(failed.length > 0 || summary.results.length === 0, context).toBe(true);
        for (const f of failed) expect(f.error!.length, context).toBeGreaterThan(0);
      } else {
        expect(res.stderr.trim().length, context).toBeGreaterThan(0);
      }

      const written = await readdir(out).catch(() => [] as string[]);
      expect(written.filter((f) => f.includes(PARTIAL_MARKER)), context).toEqual([]);
      const reported = new Set((summary?.results ?? []).filter((x) => x.file).map((x) => path.basename(x.file!)));
      // Each output's events and chapters sidecars are reported with it.
      for (const x of summary?.results ?? []) for (const f of [x.eventsFile, x.chaptersFile]) if (f) reported.add(path.basename(f));
      // Besides the outputs: their rerun records (`.<name>.recmerge.json`) and the download cache.
      const records = (name: string) => name.startsWith('.') && name.endsWith('.recmerge.json') && reported.has(name.slice(1, -'.recmerge.json'.length));
      for (const f of written.filter((name) => !name.startsWith('.recmerge-cache') && !records(name))) expect(reported.has(f), `${context}\nunreported file ${f}`).toBe(true);
      for (const x of summary?.results ?? []) {
        const how = x.error ? 'failed outputs' : x.warnings.length ? 'outputs with warnings' : 'clean outputs';
        endings.set(how, (endings.get(how) ?? 0) + 1);
        if (!x.file) continue;
        expect((await stat(x.file)).size, context).toBeGreaterThan(0);
        const media = await probe(x.file);
        expect(media.durationS, context).toBeGreaterThan(0);
        // The recording spans 6 s: a mutated #EXTINF changes nothing (slices last what their media holds),
        // a slice moved by less than a day lengthens its output by the move, a farther one splits the user.
        expect(media.durationS, context).toBeLessThan(25 + addedS);
        if (x.videoPath) expect(media.video?.codec, context).toBe('h264');
        if (x.audioPath) expect(media.audio?.codec, context).toBe('aac');
      }
      await rm(dir, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    });
  }
});
