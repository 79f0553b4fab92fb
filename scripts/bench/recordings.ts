// The benchmark's recordings: specs scaled by BENCH_MINUTES, built with the test fixture builder and cached
// under .bench/recordings/<name>-<spec hash>/ (rebuilt only when missing or when the spec changes).
import { createHash } from 'node:crypto';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { writeRecording, type FixtureRecording, type FixtureUser } from '../../test/support/recording-fixture.js';

/** One slice as written: enough to rebuild the service script's timeline without reading playlists. */
export interface BenchSlice {
  uid: string;
  media: 'audio' | 'video';
  path: string;
  startMs: number;
  durationMs: number;
}

export interface BenchRecording {
  name: string;
  dir: string;
  uids: string[];
  width: number;
  height: number;
  fps: number;
  codec: 'h264' | 'vp8';
  slices: BenchSlice[];
  /** Wall-clock span per UID (first slice start to last slice end), ms: what a correct output lasts. */
  spanMs: Record<string, number>;
  /** Media minutes per UID as specified (the recording's length). */
  minutes: number;
  built: boolean;
  buildSeconds: number;
}

const T0 = Date.UTC(2026, 0, 5, 8, 0, 0);
/** Bumped when the way a spec turns into files changes without the spec itself changing. */
const BUILD_VERSION = 1;

/** Presence windows as fractions of the recording: each UID leaves and rejoins at its own instants. */
const PRESENCE_1H: Record<string, Array<[number, number]>> = {
  '1001': [[0, 0.33], [0.36, 0.71], [0.73, 1]],
  '1002': [[0, 0.2], [0.21, 0.62], [0.66, 1]],
  '1003': [[0, 0.5], [0.52, 0.83], [0.88, 1]],
  '1004': [[0.09, 0.42], [0.45, 1]], // joins late
};
const PRESENCE_WEBM: Record<string, Array<[number, number]>> = {
  '2001': [[0, 0.45], [0.5, 1]],
  '2002': [[0.1, 0.7], [0.75, 1]], // joins late
};

export function users(
  presence: Record<string, Array<[number, number]>>,
  minutes: number,
  video: { width: number; height: number; fps: number; codec: 'h264' | 'vp8' },
): FixtureUser[] {
  const totalS = Math.round(minutes * 60);
  return Object.entries(presence).map(([uid, windows], u) => {
    const runs = windows.map(([a, b]) => {
      const startS = Math.round(a * totalS);
      const endS = Math.round(b * totalS);
      return { startMs: T0 + startS * 1000, durationMs: Math.max(1, endS - startS) * 1000 };
    });
    return {
      uid,
      // Audio starts a little before the picture, as a real sender's does, by a different amount per UID.
      audio: runs.map((r) => ({ startMs: r.startMs - 120 - 40 * u, durationMs: r.durationMs, sliceMs: 15000, channels: 1 as const })),
      video: runs.map((r) => ({ ...r, ...video, sliceMs: 15000 })),
      // One marker (white frame + beep) 7 s into each presence.
      markers: runs.filter((r) => r.durationMs > 10_000).map((r) => r.startMs + 7000),
    };
  });
}

export function specs(minutes: number): Array<{ name: string; minutes: number; rec: FixtureRecording; video: { width: number; height: number; fps: number; codec: 'h264' | 'vp8' } }> {
  const h264 = { width: 640, height: 360, fps: 15, codec: 'h264' as const };
  const vp8 = { width: 640, height: 360, fps: 15, codec: 'vp8' as const };
  const webmMinutes = minutes / 6;
  return [
    {
      name: 'h264',
      minutes,
      video: h264,
      rec: { sid: '6b2f0c1de4a34f5b9e8d7c6b5a493827', cname: 'bench_class_1', users: users(PRESENCE_1H, minutes, h264) },
    },
    {
      name: 'webm',
      minutes: webmMinutes,
      video: vp8,
      rec: { sid: '0a1b2c3d4e5f60718293a4b5c6d7e8f9', cname: 'bench_web_1', users: users(PRESENCE_WEBM, webmMinutes, vp8) },
    },
  ];
}

function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify({ BUILD_VERSION, value })).digest('hex').slice(0, 12);
}

function spans(slices: BenchSlice[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const uid of new Set(slices.map((s) => s.uid))) {
    const mine = slices.filter((s) => s.uid === uid);
    const start = Math.min(...mine.map((s) => s.startMs));
    const end = Math.max(...mine.map((s) => s.startMs + s.durationMs));
    out[uid] = end - start;
  }
  return out;
}

/** The cached recording for a spec, built first if missing or stale (stale builds of the same name and length are removed). */
export async function ensureRecording(root: string, spec: ReturnType<typeof specs>[number], log: (s: string) => void): Promise<BenchRecording> {
  const hash = hashOf({ minutes: spec.minutes, rec: spec.rec });
  // One cache per name and length: a quick small-scale run does not throw away the full-size build.
  const stem = `${spec.name}-${spec.minutes}min-`;
  const dir = path.join(root, `${stem}${hash}`);
  const manifestFile = path.join(dir, 'manifest.json');
  const base = { name: spec.name, dir, uids: spec.rec.users.map((u) => u.uid), ...spec.video, minutes: spec.minutes };
  const cached = await readFile(manifestFile, 'utf8').then((t) => JSON.parse(t) as { slices: BenchSlice[]; buildSeconds: number }, () => null);
  if (cached) {
    const slices = cached.slices.map((s) => ({ ...s, path: path.resolve(dir, s.path) }));
    return { ...base, slices, spanMs: spans(slices), built: false, buildSeconds: cached.buildSeconds };
  }

  for (const entry of await readdir(root).catch(() => [] as string[])) {
    if (entry.startsWith(stem)) await rm(path.join(root, entry), { recursive: true, force: true });
  }
  log(`building ${spec.name} recording (${spec.minutes} min, ${spec.rec.users.length} UIDs, ${spec.video.codec}) in ${dir} ...`);
  const started = performance.now();
  const written = await writeRecording(path.join(dir, 'recording'), spec.rec);
  const buildSeconds = (performance.now() - started) / 1000;
  const slices: BenchSlice[] = written.slices.map((s) => ({ uid: s.uid, media: s.media, path: s.path, startMs: s.startMs, durationMs: s.durationMs }));
  // The manifest is written last: its presence means the build finished.
  const stored = slices.map((s) => ({ ...s, path: path.relative(dir, s.path) }));
  await writeFile(manifestFile, JSON.stringify({ spec, slices: stored, buildSeconds }, null, 1));
  log(`built ${spec.name} in ${buildSeconds.toFixed(1)} s (${slices.length} slices)`);
  return { ...base, slices, spanMs: spans(slices), built: true, buildSeconds };
}

/** One camera-like sender of the re-encoding bench: its picture and what it sends at. */
interface CameraSender {
  uid: string;
  width: number;
  height: number;
  codec: 'h264' | 'vp8';
  bitrateKbps: number;
  /** Fraction of the recording the picture starts after the audio's first slice (a lead the output keeps black). */
  lateStart: number;
}

/**
 * The re-encoding bench's recordings: camera-like pictures (motion, texture, sensor noise) at 30 fps, one
 * presence per UID, short enough to build in a few minutes on 2 cores. 'cam': phones at 1280x720 (H.264, so
 * the copy path gives the exact reference); 'webcam': Web VP8 senders at 640x360 and 960x540.
 */
export function cameraSpecs(seconds: number): Array<{ name: string; minutes: number; rec: FixtureRecording; video: { width: number; height: number; fps: number; codec: 'h264' | 'vp8' }; senders: CameraSender[] }> {
  const fps = 30;
  const groups: Array<{ name: string; sid: string; senders: CameraSender[] }> = [
    {
      name: 'cam',
      sid: '7c3e1d2f0a9b48c6b5d4e3f2a1b0c9d8',
      senders: [
        { uid: '3001', width: 1280, height: 720, codec: 'h264', bitrateKbps: 1500, lateStart: 0 },
        { uid: '3002', width: 1280, height: 720, codec: 'h264', bitrateKbps: 1500, lateStart: 0.05 },
      ],
    },
    {
      name: 'webcam',
      sid: '8d4f2e3a1b0c59d7c6e5f4a3b2c1d0e9',
      senders: [
        { uid: '4001', width: 640, height: 360, codec: 'vp8', bitrateKbps: 600, lateStart: 0 },
        { uid: '4002', width: 960, height: 540, codec: 'vp8', bitrateKbps: 1000, lateStart: 0.05 },
      ],
    },
  ];
  return groups.map(({ name, sid, senders }) => {
    const first = senders[0]!;
    const users: FixtureUser[] = senders.map((s, u) => {
      const startMs = T0 + Math.round(s.lateStart * seconds) * 1000;
      const durationMs = Math.round((1 - s.lateStart) * seconds) * 1000;
      return {
        uid: s.uid,
        audio: [{ startMs: startMs - 120 - 40 * u, durationMs, sliceMs: 15000, channels: 1 as const }],
        video: [{ startMs, durationMs, width: s.width, height: s.height, fps, codec: s.codec, sliceMs: 15000, content: 'camera' as const, bitrateKbps: s.bitrateKbps }],
        markers: [startMs + 7000],
      };
    });
    return {
      name,
      minutes: seconds / 60,
      video: { width: first.width, height: first.height, fps, codec: first.codec },
      senders,
      rec: { sid, cname: `bench_${name}_1`, users },
    };
  });
}
