// Fuzzing the slice parsers (issue 18): per seed, one user's real TS, ADTS and WebM slices are mutated
// structurally (lengths, sizes, IDs, truncations, unknown sizes, deep nesting, ADTS header fields) and the
// recording is merged with the built CLI. For every seed: the run ends before its bound (no hang past the
// readers' budget), its peak RSS stays within 300 MB of an unmutated run's, nothing is thrown uncaught, and
// every other user is merged right (its markers where they belong).
//   npx vitest run test/fuzz-media.test.ts                           (a handful of seeds)
//   RECMERGE_FUZZ_CASES=1000 npx vitest run test/fuzz-media.test.ts  (the slow suite; RECMERGE_FUZZ_SEED shifts the seeds)
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveTool } from '../src/ffmpeg/runner.js';
import type { MergeSummary } from '../src/options.js';
import { BIN } from './support/cli.js';
import { rng, runBounded, type Rng } from './support/fuzz.js';
import { probe } from './support/measure.js';
import { editAdtsHeaders, nestedAtoms, unknownSizeSegment, zeroedCuesId } from './support/media-edit.js';
import { writeRecording, type WrittenRecording } from './support/recording-fixture.js';
import { expectMarkers, outputSeconds, T0, tempDir } from './support/sync.js';

const CASES = Number(process.env.RECMERGE_FUZZ_CASES ?? 4);
const FIRST_SEED = Number(process.env.RECMERGE_FUZZ_SEED ?? 1);
/** A run's bound: a few reads may each use their whole budget (10 s) before ffprobe takes over. */
const CASE_TIMEOUT_MS = 120_000;
const RSS_GROWTH_MAX = 300 << 20;
const markers = [T0 + 1000, T0 + 3000, T0 + 5000];
const USERS = ['1', '2', '3'] as const;

let base: string;
let w: WrittenRecording;
let baselineRss = 0;
const endings = new Map<string, number>();
const count = (what: string) => endings.set(what, (endings.get(what) ?? 0) + 1);
afterAll(() => console.log(`media fuzz endings: ${JSON.stringify(Object.fromEntries([...endings].sort()))}`));

const merge = (dir: string, out: string, extra: string[] = []) => runBounded([BIN, 'merge', dir, '-o', out, '--json', '-q', ...extra], CASE_TIMEOUT_MS);

beforeAll(async () => {
  base = await tempDir('fuzz-media-base');
  w = await writeRecording(base, {
    sid: 'f022f022f022f022f022f022f022f022',
    cname: 'media_fuzz',
    users: [
      // H.264 in TS with AAC; a web sender (VP8 in WebM, AAC in TS); audio only.
      { uid: '1', markers, audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15 }] },
      {
        uid: '2',
        markers,
        audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000 }],
        video: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, width: 160, height: 90, fps: 15, codec: 'vp8' }],
      },
      { uid: '3', markers, audio: [{ startMs: T0, durationMs: 6000, sliceMs: 2000, channels: 2 }] },
    ],
  });
  const clean = await merge(base, `${base}-out`);
  expect(clean.code, clean.stderr).toBe(0);
  baselineRss = clean.peakRss;
  // The clean outputs, checked once: a user's output equal to its clean one byte for byte needs no second look.
  for (const r of (JSON.parse(clean.stdout) as MergeSummary).results) {
    await checkOutput(r.uid, r.file!, `clean run, uid ${r.uid}`);
    cleanOutputs.set(r.uid, await digest(r.file!));
  }
  await rm(`${base}-out`, { recursive: true, force: true });
});

const cleanOutputs = new Map<string, string>();
const digest = async (file: string) => createHash('sha256').update(await readFile(file)).digest('hex');

/** A user's output: its markers where they belong, and it decodes clean. */
async function checkOutput(uid: string, file: string, context: string): Promise<void> {
  await expectMarkers(file, outputSeconds(markers, T0), 15, { video: uid !== '3' });
  expect(await decodeErrors(file), context).toBe('');
}

const EBML_IDS = [
  [0x1f, 0x43, 0xb6, 0x75], // Cluster
  [0x16, 0x54, 0xae, 0x6b], // Tracks
  [0x15, 0x49, 0xa9, 0x66], // Info
  [0x11, 0x4d, 0x9b, 0x74], // SeekHead
  [0x1c, 0x53, 0xbb, 0x6b], // Cues
  [0xae], // TrackEntry
  [0xa3], // SimpleBlock
  [0xe7], // Timestamp
];

/** Where one of the element IDs above occurs (a random occurrence), or -1. */
function someElement(data: Buffer, r: Rng): { at: number; idLength: number } {
  const id = Buffer.from(r.pick(EBML_IDS));
  const hits: number[] = [];
  for (let i = data.indexOf(id); i >= 0 && hits.length < 64; i = data.indexOf(id, i + 1)) hits.push(i);
  return hits.length ? { at: r.pick(hits), idLength: id.length } : { at: -1, idLength: 0 };
}

function mutateWebm(data: Buffer, r: Rng): [string, Buffer] {
  switch (r.int(8)) {
    case 0:
      return ['unknown-size Segment + zeros', Buffer.concat([unknownSizeSegment(data), Buffer.alloc(r.int(200))])];
    case 1:
      return ['Cues ID zeroed', zeroedCuesId(data)];
    case 2: {
      const depth = r.pick([100, 1000, 10_000, 20_000]);
      return [`${depth} nested ChapterAtoms`, nestedAtoms(r.next() < 0.5 ? data : unknownSizeSegment(data), depth)];
    }
    case 3: {
      // An element's size made unknown (all ones) or huge, or an ID zeroed.
      const out = Buffer.from(data);
      const { at, idLength } = someElement(out, r);
      if (at < 0) return ['no element found', out];
      const sizeAt = at + idLength;
      const length = Math.max(1, Math.clz32(out[sizeAt]!) - 23);
      const how = r.int(3);
      if (how === 0) {
        out[sizeAt] = 0xff >> (length - 1);
        out.fill(0xff, sizeAt + 1, sizeAt + length);
      } else if (how === 1) {
        out.fill(0xfe, sizeAt + 1, sizeAt + length);
      } else out.fill(0, at, sizeAt);
      return [`element at ${at}: ${['unknown size', 'huge size', 'ID zeroed'][how]}`, out];
    }
    case 4:
      return ['truncated', data.subarray(0, r.int(data.length))];
    case 5: {
      const out = Buffer.from(data);
      const from = r.int(out.length);
      out.fill(0, from, Math.min(out.length, from + r.int(512)));
      return ['zeroed run', out];
    }
    case 6: {
      const out = Buffer.from(data);
      for (let n = 0; n < 1 + r.int(32); n++) out[r.int(out.length)] = r.int(256);
      return ['random bytes', out];
    }
    default: {
      // A stretch copied over another (sizes and IDs out of place).
      const out = Buffer.from(data);
      const from = r.int(out.length);
      const len = r.int(4096);
      out.copy(out, r.int(out.length), from, Math.min(out.length, from + len));
      return ['stretch copied', out];
    }
  }
}

function mutateTs(data: Buffer, r: Rng, audio: boolean): [string, Buffer] {
  const out = Buffer.from(data);
  const packets = Math.floor(out.length / 188);
  const at = () => r.int(packets) * 188;
  switch (r.int(audio ? 8 : 6)) {
    case 0:
      return ['truncated', out.subarray(0, r.int(out.length))];
    case 1: {
      // A PES packet length or header length off.
      const p = at();
      out[p + 4 + 4] = r.int(256);
      out[p + 4 + 8] = r.int(256);
      return [`PES header of packet ${p / 188}`, out];
    }
    case 2: {
      const p = at();
      out[p + 1] = (out[p + 1]! & 0xe0) | r.int(32);
      out[p + 2] = r.int(256);
      return [`PID of packet ${p / 188}`, out];
    }
    case 3: {
      const p = at();
      out.fill(r.pick([0, 0xff]), p + 4, p + 188);
      return [`payload of packet ${p / 188}`, out];
    }
    case 4: {
      // The adaptation field length or flags wrong.
      const p = at();
      out[p + 3] = (out[p + 3]! & 0xcf) | (r.int(4) << 4);
      out[p + 4] = r.int(256);
      return [`adaptation field of packet ${p / 188}`, out];
    }
    case 5: {
      const from = at();
      const n = 1 + r.int(20);
      return [`${n} packets repeated`, Buffer.concat([out.subarray(0, from + n * 188), out.subarray(from)])];
    }
    default: {
      const field = r.pick(['frameLength', 'channelConfig', 'blocks', 'sampleRateIndex'] as const);
      const value = field === 'frameLength' ? r.pick([0, 1, 6, 7, 8191, r.int(8192)]) : field === 'channelConfig' ? r.int(8) : field === 'blocks' ? 1 + r.int(4) : r.int(16);
      const which = r.int(3);
      // (An earlier mutation of the same slice may have taken its program table: then nothing is edited.)
      let edited: number;
      try {
        edited = editAdtsHeaders(out, { [field]: value }, (i, n) => (which === 0 ? i === r.int(n) : which === 1 ? i === n - 1 : true));
      } catch {
        edited = 0;
      }
      return [`ADTS ${field}=${value} in ${['one frame', 'the last frame', 'every frame'][which]} (${edited})`, out];
    }
  }
}

/** Mutates 1-3 slices of one user; what was done. */
async function mutateUser(dir: string, uid: string, r: Rng): Promise<string[]> {
  const slices = w.slices.filter((s) => s.uid === uid);
  const done: string[] = [];
  for (let n = 0; n < 1 + r.int(3); n++) {
    const s = r.pick(slices);
    const file = path.join(dir, s.key);
    const data = await readFile(file);
    const [what, out] = s.key.endsWith('.webm') ? mutateWebm(data, r) : mutateTs(data, r, s.media === 'audio');
    await writeFile(file, out);
    done.push(`${s.key.replace(/^.*__uid_e_/, '')}: ${what}`);
  }
  return done;
}

const decodeErrors = async (file: string) => (await promisify(execFile)(resolveTool('ffmpeg'), ['-v', 'error', '-i', file, '-f', 'null', '-'])).stderr;

// Seeds run side by side (each run is its own process, measured on its own): `--maxConcurrency N` sets how many.
describe.concurrent(`media fuzz: ${CASES} seeds (${FIRST_SEED}..${FIRST_SEED + CASES - 1})`, () => {
  for (let seed = FIRST_SEED; seed < FIRST_SEED + CASES; seed++) {
    it(`seed ${seed}`, { timeout: CASE_TIMEOUT_MS * 2 }, async () => {
      const r = rng(seed);
      const victim = r.pick(USERS);
      const dir = await tempDir(`fuzz-media-${seed}`);
      await cp(base, dir, { recursive: true });
      const done = await mutateUser(dir, victim, r);
      const out = `${dir}-out`;
      const extra = r.next() < 0.25 ? ['--transcode'] : [];
      const run = await merge(dir, out, extra);
      const context = `seed ${seed}, uid ${victim}: ${done.join('; ')}${extra.length ? ' (--transcode)' : ''} -> exit ${run.code}, peak RSS ${(run.peakRss / 2 ** 20).toFixed(0)} MB (clean run ${(baselineRss / 2 ** 20).toFixed(0)} MB)\nstderr: ${run.stderr.slice(-3000)}`;
      expect(run.timedOut, context).toBe(false);
      // Nothing thrown uncaught: no stack trace, no V8 abort, and an exit code that says how the run went.
      expect(run.stderr, context).not.toMatch(/\n\s+at .+:\d+:\d+\)?\n|FATAL ERROR|Uncaught|ERR_WORKER/);
      expect([0, 1], context).toContain(run.code);
      expect(run.peakRss - baselineRss, context).toBeLessThan(RSS_GROWTH_MAX);
      const summary = JSON.parse(run.stdout) as MergeSummary;
      count(`exit ${run.code}`);
      for (const uid of USERS) {
        const result = summary.results.find((x) => x.uid === uid);
        if (uid === victim) {
          if (!result?.file) {
            count('victim without output');
            continue;
          }
          count(result.warnings.length ? 'victim merged with warnings' : 'victim merged without warnings');
          expect((await probe(result.file)).durationS, context).toBeGreaterThan(0);
          if ((await decodeErrors(result.file)) !== '') count('victim output with decode errors');
          continue;
        }
        expect(result?.error, `${context}\nuid ${uid}`).toBeNull();
        if ((await digest(result!.file!)) === cleanOutputs.get(uid)) count('other users as in the clean run');
        else await checkOutput(uid, result!.file!, `${context}\nuid ${uid}`);
      }
      const left = (await readdir(out).catch(() => [] as string[])).filter((f) => f.includes('.recmerge-partial'));
      expect(left, context).toEqual([]);
      await rm(dir, { recursive: true, force: true });
      await rm(out, { recursive: true, force: true });
    });
  }
});
