// The fixture builder writes every recorder mode the contract describes (README "Recorder modes"), and
// recmerge's discovery reads them: original (Opus or AAC in TS, audio only), standard (av index; Opus in
// WebM and an av.mpd for a Web VP8 sender), raw (muxed A+V TS slices under one index; a DASH MPD of WebM
// segments for VP9 + Opus). Markers are measured in every slice against the truth the builder reports.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectRecordings } from '../src/api.js';
import { parseMpd } from '../src/core/av-index.js';
import { parseRecordingName } from '../src/core/names.js';
import { summarizeInventory } from '../src/core/summary.js';
import { measureSlice } from '../src/media/slice-media.js';
import { timelineHtml } from '../src/report/timeline-html.js';
import { formatInspect } from '../src/cli/report.js';
import { recmerge } from './support/cli.js';
import { beepTimes, whiteFrameTimes } from './support/measure.js';
import { avIndexName, playlistName, rawIndexName, utc17, writeRecording, type FixtureRecording, type WrittenRecording } from './support/recording-fixture.js';

const execFileAsync = promisify(execFile);
const T0 = Date.UTC(2024, 4, 6, 7, 8, 9, 123);
const JITTER_MS = 15;
const SID = '5e1f0c2a9b7d4e3f8a6c1b0d2e4f6a8c';
const common = { cname: 'class_7', jitterMs: JITTER_MS, extinf: 'recorder' as const };

const original: FixtureRecording = {
  ...common,
  sid: `${SID.slice(0, 30)}01`,
  mode: 'original',
  users: [
    // A mute ends a slice: the second run starts after a gap, in its own slices.
    { uid: '1', markers: [T0 + 1000, T0 + 2600, T0 + 6500], audio: [{ startMs: T0, durationMs: 4000, sliceMs: 1500, codec: 'opus', channels: 2 }, { startMs: T0 + 5000, durationMs: 2000, codec: 'opus' }] },
    { uid: '2', markers: [T0 + 1000], audio: [{ startMs: T0, durationMs: 2000 }] },
  ],
};
const standard: FixtureRecording = {
  ...common,
  sid: `${SID.slice(0, 30)}02`,
  mode: 'standard',
  users: [
    // A Web VP8 sender: WebM video, WebM (Opus) audio, an av.mpd.
    {
      uid: '1',
      markers: [T0 + 1000, T0 + 3500],
      audio: [{ startMs: T0, durationMs: 5000, sliceMs: 2000 }],
      video: [{ startMs: T0, durationMs: 5000, width: 160, height: 90, fps: 15, codec: 'vp8', sliceMs: 2000, rotation: 90 }],
    },
    { uid: '2', markers: [T0 + 1000], audio: [{ startMs: T0, durationMs: 3000 }], video: [{ startMs: T0, durationMs: 3000, width: 160, height: 90, fps: 15 }] },
  ],
};
const raw: FixtureRecording = {
  ...common,
  sid: `${SID.slice(0, 30)}03`,
  mode: 'raw',
  users: [
    // H.264 + AAC muxed, started mid-GOP (keyframes at frames 11, 26, 41, ...), cut at a keyframe, force-cut mid-GOP.
    { uid: '1', markers: [T0 + 1000, T0 + 3500, T0 + 5500], audio: [{ startMs: T0, durationMs: 6000 }], video: [{ startMs: T0, durationMs: 6000, width: 160, height: 90, fps: 15, sliceMs: 2000, startsMidGop: 4, forceCutsMs: [3800] }] },
    { uid: '2', markers: [T0 + 1200], audio: [{ startMs: T0, durationMs: 3000, channels: 2 }], video: [{ startMs: T0, durationMs: 3000, width: 160, height: 96, fps: 15, codec: 'hevc' }] },
    // VP9 + Opus as DASH.
    { uid: '3', markers: [T0 + 1000, T0 + 3500], audio: [{ startMs: T0, durationMs: 5000, sliceMs: 2000 }], video: [{ startMs: T0, durationMs: 5000, width: 160, height: 90, fps: 15, codec: 'vp9', sliceMs: 2000 }] },
  ],
};

let root: string;
const written = new Map<string, WrittenRecording>();
beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'fixture-modes-'));
  for (const rec of [original, standard, raw]) written.set(rec.mode!, await writeRecording(path.join(root, rec.mode!), rec));
}, 300_000);
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const of = (mode: string) => written.get(mode)!;
const names = async (mode: string) => (await readdir(of(mode).root)).sort();

interface Probed {
  streams: { codec_type: string; codec_name: string; codec_tag_string: string; start_time: string; channels?: number }[];
  packets: { stream_index: number; pts_time: string; duration_time: string }[];
  format: { start_time: string };
}
async function ffprobe(file: string): Promise<Probed> {
  const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,codec_tag_string,start_time,channels:packet=stream_index,pts_time,duration_time:format=start_time', '-of', 'json', file], { maxBuffer: 1 << 26 });
  return JSON.parse(stdout) as Probed;
}

describe('original mode: audio only, the sender codec (Opus or AAC) in TS', () => {
  it('names the files as the default mode does; Opus slices are Opus in MPEG-TS, 20 ms packets, cut where a run ends', async () => {
    const rec = of('original');
    expect((await names('original')).filter((n) => n.endsWith('.m3u8'))).toEqual([playlistName(original, '1', 'audio'), playlistName(original, '2', 'audio')]);
    const opus = rec.slices.filter((s) => s.uid === '1');
    // 20 ms packets: the first slice also holds the 6.5 ms of pre-skip (one packet more), the run's last is cut short.
    expect(opus.map((s) => s.durationMs)).toEqual([1520, 1500, 980, 2000].map((ms) => expect.closeTo(ms, 6)));
    for (const slice of opus) {
      expect(parseRecordingName(slice.key)).toMatchObject({ ok: true, name: { type: 'slice', media: 'audio', container: 'ts' } });
      const probed = await ffprobe(slice.path);
      expect(probed.streams[0]).toMatchObject({ codec_name: 'opus', codec_tag_string: 'Opus' });
      expect(new Set(probed.packets.map((p) => p.duration_time))).toEqual(new Set(['0.020000']));
      // recmerge's measurement: the fixture's real length and first timestamp.
      const measured = await measureSlice(slice.path, 'ts', 'audio');
      expect(measured.startS).toBeCloseTo(slice.mediaStartS, 6);
      expect(measured.lengthMs).toBeCloseTo(slice.durationMs, 3);
    }
    // The run's first slice carries libopus's pre-skip as its start trim.
    expect((await measureSlice(opus[0]!.path, 'ts', 'audio')).audio).toMatchObject({ channels: 2, opus: { preSkip: 312 } });
    expect((await ffprobe(rec.slices.find((s) => s.uid === '2')!.path)).streams[0]!.codec_name).toBe('aac');
  });

  it('is read as one recording, a visible guess between default and original (the names are the same)', async () => {
    const summary = summarizeInventory(await inspectRecordings(of('original').root));
    expect(summary.ignored).toEqual([]);
    expect(summary.mode).toBe('default (or original) [guess]');
    expect(summary.sessions[0]!.uids.map((u) => [u.uid, u.failed, u.tracks.map((t) => t.codecs.join('+'))])).toEqual([
      ['1', null, ['AAC or Opus']],
      ['2', null, ['AAC or Opus']],
    ]);
  });
});

describe('standard mode: the av index, and Opus in WebM for a Web VP8 sender', () => {
  it('writes av.m3u8 (blocks naming the playlists) for a TS sender and av.mpd naming every WebM slice for a VP8 sender', async () => {
    const rec = of('standard');
    expect(await readFile(path.join(rec.root, avIndexName(standard, '2', 'm3u8')), 'utf8')).toBe(
      `#EXTM3U\n# Audio\n${playlistName(standard, '2', 'audio')}\n# Video\n${playlistName(standard, '2', 'video')}\n`,
    );
    const mpd = parseMpd(await readFile(path.join(rec.root, avIndexName(standard, '1', 'mpd')), 'utf8'));
    expect(mpd.warnings).toEqual([]);
    const mine = rec.slices.filter((s) => s.uid === '1');
    expect(mpd.entries.map((e) => [e.uri, e.media, e.timeMs])).toEqual(mine.map((s) => [path.basename(s.key), s.media, s.nameStartMs]));
    expect(mpd.entries.filter((e) => e.media === 'video').map((e) => [e.width, e.height, e.rotation])).toEqual(mine.filter((s) => s.media === 'video').map(() => [160, 90, 90]));
    expect(mine.filter((s) => s.media === 'audio').map((s) => s.key.endsWith('.webm'))).toEqual([true, true, true]);
  });

  it('WebM Opus slices: pre-skip 312 on each, the first block 6.5 ms (stored as 7) before the first decoded sample', async () => {
    for (const slice of of('standard').slices.filter((s) => s.uid === '1' && s.media === 'audio')) {
      const probed = await ffprobe(slice.path);
      expect(probed.streams[0]).toMatchObject({ codec_name: 'opus' });
      const { stdout } = await execFileAsync('ffprobe', ['-v', 'error', '-read_intervals', '%+#1', '-show_entries', 'frame=pts_time,nb_samples', '-of', 'json', slice.path]);
      const frame = (JSON.parse(stdout) as { frames: { pts_time: string; nb_samples: number }[] }).frames[0]!;
      expect(frame.nb_samples).toBe(960 - 312);
      expect(Number(frame.pts_time) - slice.mediaStartS).toBeCloseTo(0.007, 6);
      expect((await measureSlice(slice.path, 'webm', 'audio')).audio).toMatchObject({ sampleRate: 48000, opus: { preSkip: 312 } });
    }
  });

  it('inspect says standard and reports nothing amiss; a playlist the av index names that never reached storage is a warning naming both, and the UID still merges', async () => {
    const rec = of('standard');
    const summary = summarizeInventory(await inspectRecordings(rec.root));
    expect(summary.mode).toBe('standard');
    expect(summary.ignored).toEqual([]);
    expect(summary.sessions[0]!.uids.flatMap((u) => u.problems)).toEqual([]);
    expect(summary.sessions[0]!.uids.map((u) => u.tracks.map((t) => t.codecs.join('+')))).toEqual([['Opus', 'VP8'], ['AAC', 'H.264']]);
    expect(timelineHtml(await inspectRecordings(rec.root))).toContain('recorder mode: standard</div>');

    const copy = path.join(root, 'standard-missing');
    await execFileAsync('cp', ['-r', rec.root, copy]);
    await rm(path.join(copy, playlistName(standard, '2', 'video')));
    // The MPD names an audio slice its playlist lost.
    const audioList = path.join(copy, playlistName(standard, '1', 'audio'));
    const lastAudio = path.basename(rec.slices.filter((s) => s.uid === '1' && s.media === 'audio').at(-1)!.key);
    await writeFile(audioList, (await readFile(audioList, 'utf8')).replace(new RegExp(`#EXTINF:[^\\n]*\\n${lastAudio}\\n`), ''));
    const inventory = await inspectRecordings(copy);
    const text = formatInspect(summarizeInventory(inventory));
    expect(text).toContain(`warning: ${avIndexName(standard, '2', 'm3u8')}: names ${playlistName(standard, '2', 'video')}, which is not in storage (that video playlist never reached storage)`);
    expect(text).toContain(`warning: ${lastAudio}: named by ${avIndexName(standard, '1', 'mpd')}, but the audio playlist does not list it`);
    expect(inventory.sessions[0]!.uids.map((u) => u.failed)).toEqual([null, null]);
  });
});

describe('raw mode (built from the docs description): one index per UID, muxed A+V slices or DASH', () => {
  const muxedOf = (uid: string) => of('raw').slices.filter((s) => s.uid === uid && s.media === 'video');

  it('names an index per UID and muxed slices <utc>_<codec>.ts holding audio and video, whose name labels the file start', async () => {
    expect((await names('raw')).filter((n) => /\.(m3u8|mpd)$/.test(n))).toEqual([rawIndexName(raw, '1', 'h264'), rawIndexName(raw, '2', 'h265'), rawIndexName(raw, '3', 'vp9')]);
    for (const uid of ['1', '2']) {
      const slices = muxedOf(uid);
      expect(slices.length).toBeGreaterThan(uid === '1' ? 2 : 0);
      for (const slice of slices) {
        expect(parseRecordingName(slice.key)).toMatchObject({ ok: true, name: { type: 'muxed', startMs: slice.nameStartMs, videoCodec: uid === '1' ? 'h264' : 'h265' } });
        const probed = await ffprobe(slice.path);
        expect(probed.streams.map((s) => s.codec_name).sort()).toEqual(['aac', uid === '1' ? 'h264' : 'hevc']);
        expect(slice.mediaStartS).toBeCloseTo(Number(probed.format.start_time), 6);
        expect(of('raw').slices.filter((s) => s.key === slice.key).map((s) => [s.media, s.muxed])).toEqual([['audio', true], ['video', true]]);
        const measured = await measureSlice(slice.path, 'ts', 'video');
        expect(measured.fileStartS).toBeCloseTo(slice.mediaStartS, 6);
      }
    }
    // Lead (mid-GOP start), keyframe cut, forced cut (mid-GOP).
    expect(muxedOf('1').map((s) => s.startsOnKeyframe)).toEqual([false, true, false]);
    const index = await readFile(path.join(of('raw').root, rawIndexName(raw, '1', 'h264')), 'utf8');
    expect(index).toContain('#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=VIDEO');
    expect(index).toContain('#EXT-X-AGORA-TRACK-EVENT:EVENT=START,TRACK_TYPE=AUDIO');
  });

  it('contiguous muxed slices concatenate into a stream that decodes cleanly', async () => {
    const whole = path.join(root, 'muxed.ts');
    await writeFile(whole, Buffer.concat(await Promise.all(muxedOf('1').slice(1).map((s) => readFile(s.path)))));
    const { stderr } = await execFileAsync('ffmpeg', ['-v', 'warning', '-i', whole, '-f', 'null', '-']);
    expect(stderr).toBe('');
  });

  it('DASH: WebM segments <media>_<n>_vp9.webm named by the MPD with their time, Opus audio', async () => {
    const rec = of('raw');
    const mpd = parseMpd(await readFile(path.join(rec.root, rawIndexName(raw, '3', 'vp9')), 'utf8'));
    const mine = rec.slices.filter((s) => s.uid === '3');
    expect(mpd.entries.map((e) => [e.uri, e.media, e.timeMs])).toEqual(mine.map((s) => [path.basename(s.key), s.media, s.nameStartMs]));
    for (const slice of mine) {
      expect(parseRecordingName(slice.key)).toMatchObject({ ok: true, name: { type: 'segment', stream: slice.media, videoCodec: 'vp9', startMs: null } });
      expect((await ffprobe(slice.path)).streams[0]!.codec_name).toBe(slice.media === 'audio' ? 'opus' : 'vp9');
    }
  });

  it('inspect says raw (a guess); a muxed slice stands in both tracks, DASH segments where their MPD places them', async () => {
    const inventory = await inspectRecordings(of('raw').root);
    const summary = summarizeInventory(inventory);
    expect(summary.mode).toBe('raw [guess]');
    expect(summary.ignored).toEqual([]);
    const [u1, u2, u3] = inventory.sessions[0]!.uids;
    for (const u of [u1!, u2!]) {
      expect(u.audio!.slices.map((s) => s.key)).toEqual(u.video!.slices.map((s) => s.key));
      expect(u.audio!.slices.every((s) => s.muxed === true)).toBe(true);
      expect(u.video!.slices.map((s) => s.startMs)).toEqual(muxedOf(u.uid).map((s) => s.nameStartMs));
    }
    expect(summary.sessions[0]!.uids.map((u) => u.tracks.map((t) => t.codecs.join('+')))).toEqual([['AAC', 'H.264'], ['AAC', 'H.265'], ['Opus', 'VP9']]);
    // The MPD places every segment; the last of each stream waits for its length to be measured.
    const mine = of('raw').slices.filter((s) => s.uid === '3');
    const placed = [...u3!.audio!.slices, ...u3!.video!.slices].map((s) => s.key);
    expect([...placed, ...inventory.unmeasured].sort()).toEqual(mine.map((s) => s.key).sort());
    expect(u3!.video!.slices.every((s, i) => s.startMs === mine.filter((m) => m.media === 'video')[i]!.nameStartMs)).toBe(true);
  });
});

describe('recmerge inspect names the mode (text, --json, --html)', () => {
  it('a folder holding two modes is a mix, each mode said with why; nothing is an ignored non-recording file', async () => {
    const mixed = path.join(root, 'mixed');
    await execFileAsync('cp', ['-r', of('original').root, mixed]);
    for (const f of await readdir(of('raw').root)) await execFileAsync('cp', [path.join(of('raw').root, f), mixed]);
    const text = await recmerge(['inspect', mixed]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^recorder mode: mix: default \(or original\) \[guess\] \+ raw \[guess\]$/m);
    expect(text.stdout).toContain('made by the raw recorder mode (a guess): raw-mode names');
    expect(text.stdout).not.toContain('Ignored');
    const json = JSON.parse((await recmerge(['inspect', mixed, '--json'])).stdout) as { mode: string; sessions: { mode: string; modes: { mode: string; guess: boolean }[] }[]; ignored: unknown[] };
    expect(json.mode).toBe('mix: default (or original) [guess] + raw [guess]');
    expect(json.sessions.map((x) => x.modes.map((m) => [m.mode, m.guess]))).toEqual([[['default', true]], [['raw', true]]]);
    expect(json.ignored).toEqual([]);
    const html = path.join(root, 'timeline.html');
    expect((await recmerge(['inspect', mixed, '--html', html])).code).toBe(0);
    expect(await readFile(html, 'utf8')).toMatch(/recorder mode: raw \[guess\]<\/div>/);
  });
});

describe('the truth, for every mode', () => {
  it('gives each marker the instant its frame and beep carry in the slice files', async () => {
    for (const [mode, rec] of [['original', original], ['standard', standard], ['raw', raw]] as const) {
      const w = of(mode);
      const measured: { uid: string; media: 'audio' | 'video'; ms: number }[] = [];
      for (const slice of w.slices) {
        const times = slice.media === 'audio' ? await beepTimes(slice.path) : await whiteFrameTimes(slice.path);
        for (const t of times) measured.push({ uid: slice.uid, media: slice.media, ms: slice.nameStartMs + (t - slice.mediaStartS) * 1000 });
      }
      const expected = w.truth.flatMap((t) =>
        (['audio', 'video'] as const).flatMap((media) => {
          const ms = media === 'audio' ? t.audioMs : t.videoMs;
          return ms === null ? [] : [{ uid: t.uid, media, ms }];
        }),
      );
      const order = (a: { uid: string; media: string; ms: number }, b: typeof a) => a.uid.localeCompare(b.uid) || a.media.localeCompare(b.media) || a.ms - b.ms;
      measured.sort(order);
      expected.sort(order);
      expect(measured.map((m) => `${m.uid} ${m.media}`), mode).toEqual(expected.map((e) => `${e.uid} ${e.media}`));
      measured.forEach((m, i) => expect(Math.abs(m.ms - expected[i]!.ms), `${mode} ${JSON.stringify(m)}`).toBeLessThan(m.media === 'audio' ? 0.05 : 0.01));
      // And the truth sits where each marker was authored, give or take the name's jitter and the frame grid.
      for (const t of w.truth) {
        if (t.videoMs !== null) expect(Math.abs(t.videoMs - t.markerMs), `${mode} ${utc17(t.markerMs)}`).toBeLessThanOrEqual(JITTER_MS + 1000 / 15 / 2 + 1);
        if (t.audioMs !== null) expect(Math.abs(t.audioMs - t.markerMs), `${mode} ${utc17(t.markerMs)}`).toBeLessThanOrEqual(JITTER_MS + 1);
      }
      // Every marker of every run has its beep (none falls in a dropped WebM pre-skip here).
      const markers = rec.users.flatMap((u) => (u.markers ?? []).map((m) => `${u.uid} ${m}`));
      expect(w.truth.filter((t) => t.audioMs !== null).map((t) => `${t.uid} ${t.markerMs}`), mode).toEqual(markers);
    }
  });
});

