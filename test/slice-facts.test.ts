// The plan's facts read in-process (mediabunny) must be the facts ffprobe gives for the same slice, on
// the kinds of slice recorders write, its length must be the merge's measured length, and a slice it
// cannot read must be left to ffprobe (null).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeSlice } from '../src/ffmpeg/probe.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import { readSliceFacts } from '../src/media/slice-facts.js';
import { measureSlice, probeWebm } from '../src/media/slice-media.js';
import { scanTsFile } from '../src/media/ts-scan.js';
import type { SliceMedia } from '../src/core/types.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'recmerge-facts-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function make(name: string, args: string[]): string {
  const file = path.join(dir, name);
  const run = spawnSync(resolveTool('ffmpeg'), ['-v', 'error', '-y', ...args, file]);
  if (run.status !== 0) throw new Error(String(run.stderr));
  return file;
}

const video = (src: string, codec: string[]) => ['-f', 'lavfi', '-i', src, ...codec];
const h264WithOpus = (src: string) => ['-f', 'lavfi', '-i', src, '-f', 'lavfi', '-i', 'sine=r=48000:d=1', '-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'libopus'];
// [label, build, how far the length may be from the merge's measurement (ms)]
const cases: [string, () => string, number?][] = [
  ['H.264 High, B-frames, 1080p (cropped from 1088), 30 fps', () => make('hd.ts', [...video('testsrc2=s=1920x1080:r=30:d=1', ['-c:v', 'libx264', '-profile:v', 'high', '-bf', '2', '-g', '30', '-preset', 'ultrafast']), '-f', 'mpegts'])],
  ['H.264 Baseline 640x360 at 15 fps', () => make('base.ts', [...video('testsrc2=s=640x360:r=15:d=2', ['-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'ultrafast']), '-f', 'mpegts'])],
  ['H.264 at 29.97 fps, odd size 352x198', () => make('ntsc.ts', [...video('testsrc2=s=352x198:r=30000/1001:d=2', ['-c:v', 'libx264', '-preset', 'ultrafast']), '-f', 'mpegts'])],
  ['HEVC 1280x720 at 25 fps', () => make('hevc.ts', [...video('testsrc2=s=1280x720:r=25:d=1', ['-c:v', 'libx265', '-preset', 'ultrafast', '-x265-params', 'log-level=error']), '-f', 'mpegts'])],
  ['VP8 WebM 640x480 at 15 fps', () => make('vp8.webm', [...video('testsrc2=s=640x480:r=15:d=2', ['-c:v', 'libvpx', '-deadline', 'realtime', '-b:v', '300k'])])],
  ['AAC-LC mono 48 kHz', () => make('mono.ts', ['-f', 'lavfi', '-i', 'sine=r=48000:d=1', '-c:a', 'aac', '-ac', '1', '-f', 'mpegts'])],
  ['AAC-LC stereo 44.1 kHz', () => make('stereo.ts', ['-f', 'lavfi', '-i', 'sine=r=44100:d=1', '-c:a', 'aac', '-ac', '2', '-f', 'mpegts'])],
  // Matroska stores no duration for the last block: the measured length leaves out its 20 ms.
  ['Opus in WebM', () => make('opus.webm', ['-f', 'lavfi', '-i', 'sine=r=48000:d=1', '-c:a', 'libopus', '-ac', '2']), 21],
  // mediabunny's TS demuxer does not know Opus: recmerge's own scanner reads it (the "original" recorder mode).
  ['Opus in MPEG-TS, mono', () => make('opus-mono.ts', ['-f', 'lavfi', '-i', 'sine=r=48000:d=1', '-c:a', 'libopus', '-ac', '1', '-f', 'mpegts'])],
  ['Opus in MPEG-TS, stereo', () => make('opus-stereo.ts', ['-f', 'lavfi', '-i', 'sine=r=48000:d=1', '-c:a', 'libopus', '-ac', '2', '-f', 'mpegts'])],
  // The length spans both streams (the audio ends a frame after the video); the merge measures each track.
  ['H.264 with Opus in MPEG-TS', () => make('h264-opus.ts', [...h264WithOpus('testsrc2=s=320x240:r=15:d=1'), '-f', 'mpegts']), 25],
];

describe('readSliceFacts', () => {
  it.concurrent.each(cases)('gives what ffprobe gives: %s', async (_label, build, toleranceMs = 2) => {
    const file = build();
    const container = file.endsWith('.webm') ? 'webm' : 'ts';
    const own = await readSliceFacts(file, container, true);
    const probe = await probeSlice(file);
    expect(own?.facts).toEqual(probe.facts);
    // The length is the merge's own measurement (ffprobe's TS duration is an estimate, 64 ms short on AAC).
    const measured = await measureSlice(file, container, own!.facts.video ? 'video' : 'audio');
    expect(own!.durationMs!).toBeGreaterThan(0);
    expect(Math.abs(own!.durationMs! - measured.lengthMs)).toBeLessThan(toleranceMs);
  });

  it('reads a slice that starts mid-GOP (no parameter sets before its first keyframe)', async () => {
    const whole = make('whole.ts', [...video('testsrc2=s=640x360:r=15:d=4', ['-c:v', 'libx264', '-g', '30', '-preset', 'ultrafast']), '-f', 'mpegts']);
    const cut = make('cut.ts', ['-ss', '1', '-i', whole, '-c', 'copy', '-f', 'mpegts']);
    expect((await readSliceFacts(cut, 'ts'))?.facts).toEqual((await probeSlice(cut)).facts);
  });

  it('leaves to ffprobe what it cannot read: garbage, a WebM named .ts, an empty file', async () => {
    const garbage = path.join(dir, 'garbage.ts');
    writeFileSync(garbage, Buffer.alloc(4096, 0x47));
    const empty = path.join(dir, 'empty.ts');
    writeFileSync(empty, '');
    const webm = make('really-webm.ts', [...video('testsrc2=s=160x90:r=15:d=1', ['-c:v', 'libvpx', '-deadline', 'realtime']), '-f', 'webm']);
    expect(await readSliceFacts(garbage, 'ts')).toBeNull();
    expect(await readSliceFacts(empty, 'ts')).toBeNull();
    expect(await readSliceFacts(webm, 'ts')).toBeNull();
  });
});

describe('WebM slices measured in-process', () => {
  const close = (a: SliceMedia, b: SliceMedia) => {
    expect({ ...a, startS: 0, lengthMs: 0, frameOffsetsMs: [], firstKeyMs: 0 }).toEqual({ ...b, startS: 0, lengthMs: 0, frameOffsetsMs: [], firstKeyMs: 0 });
    expect(a.startS).toBeCloseTo(b.startS, 6);
    expect(a.lengthMs).toBeCloseTo(b.lengthMs, 3);
    expect(a.firstKeyMs ?? -1).toBeCloseTo(b.firstKeyMs ?? -1, 3);
    expect(a.frameOffsetsMs?.length).toBe(b.frameOffsetsMs?.length);
    a.frameOffsetsMs?.forEach((t, i) => expect(t).toBeCloseTo(b.frameOffsetsMs![i]!, 3));
  };

  it('gives what ffprobe gives for a VP8 slice with timestamps far from 0 that changes size inside', async () => {
    const file = make('resized.webm', [
      ...['-f', 'lavfi', '-i', 'testsrc2=s=320x240:r=15:d=3', '-vf', "scale=w='if(lt(t,1.5),320,160)':h='if(lt(t,1.5),240,120)':eval=frame"],
      ...['-c:v', 'libvpx', '-deadline', 'realtime', '-output_ts_offset', '37539.772'],
    ]);
    close(await measureSlice(file, 'webm', 'video'), await probeWebm(file, 'video'));
  });

  it('gives what ffprobe gives for a VP8 slice that starts without a keyframe', async () => {
    const whole = make('gop.webm', [...video('testsrc2=s=160x120:r=15:d=4', ['-c:v', 'libvpx', '-deadline', 'realtime', '-g', '30'])]);
    const cut = make('cut.webm', ['-i', whole, '-ss', '1.2', '-c', 'copy', '-copyinkf']);
    const own = await measureSlice(cut, 'webm', 'video');
    close(own, await probeWebm(cut, 'video'));
    expect(own.startsOnKey).toBe(false);
  });

  it('refuses a WebM slice without the stream its track needs, as ffprobe does', async () => {
    const file = make('video-only.webm', [...video('testsrc2=s=160x120:r=15:d=1', ['-c:v', 'libvpx', '-deadline', 'realtime'])]);
    await expect(measureSlice(file, 'webm', 'audio')).rejects.toThrow('holds no audio stream');
    await expect(probeWebm(file, 'audio')).rejects.toThrow('holds no audio stream');
  });
});

interface ProbedAudioPacket {
  pts_time: string;
  duration_time: string;
}

/** ffprobe's view of an audio stream: its packets (one per Opus access unit), channels, start. */
async function probeAudio(file: string): Promise<{ packets: ProbedAudioPacket[]; channels: number; codec: string }> {
  const run = spawnSync(resolveTool('ffprobe'), ['-v', 'error', '-select_streams', 'a:0', '-show_entries', 'packet=pts_time,duration_time:stream=channels,codec_name', '-of', 'json', file]);
  const out = JSON.parse(String(run.stdout)) as { packets: ProbedAudioPacket[]; streams: { channels: number; codec_name: string }[] };
  return { packets: out.packets, channels: out.streams[0]!.channels, codec: out.streams[0]!.codec_name };
}

describe('Opus in MPEG-TS measured in-process (the original recorder mode)', () => {
  const opus = (name: string, args: string[]) => make(name, ['-f', 'lavfi', '-i', 'sine=r=48000:f=440', ...args, '-c:a', 'libopus', '-f', 'mpegts']);
  // [label, build, the start trim the first access unit carries]
  const files: [string, () => string, number][] = [
    ['mono, 32 kb/s, timestamps far from 0', () => opus('o-mono.ts', ['-t', '3', '-ac', '1', '-b:a', '32k', '-output_ts_offset', '37539.772']), 312],
    ['stereo, 20 ms frames', () => opus('o-stereo.ts', ['-t', '2.5', '-ac', '2', '-b:a', '64k']), 312],
    ['10 ms frames, 5 channels', () => opus('o-surround.ts', ['-t', '1', '-ac', '5', '-frame_duration', '10', '-mapping_family', '1']), 312],
    ['a later slice of a segmented stream (it repeats the start trim)', () => {
      const dir2 = path.join(dir, 'seg');
      spawnSync('mkdir', ['-p', dir2]);
      const run = spawnSync(resolveTool('ffmpeg'), ['-v', 'error', '-y', '-f', 'lavfi', '-i', 'sine=r=48000:d=6', '-c:a', 'libopus', '-output_ts_offset', '100', '-f', 'segment', '-segment_format', 'mpegts', '-segment_times', '102,104', '-reset_timestamps', '0', path.join(dir2, '%d.ts')]);
      if (run.status !== 0) throw new Error(String(run.stderr));
      return path.join(dir2, '1.ts');
    }, 312],
    // Over WHOLE_FILE_MAX (8 MiB): read as a stream, every access unit counted.
    ['large (streamed): 120 s at 510 kb/s', () => opus('o-large.ts', ['-t', '120', '-ac', '2', '-b:a', '510k']), 312],
  ];

  it.concurrent.each(files)('gives ffprobe\'s start, length, channels and access units: %s', async (_label, build, trim) => {
    const file = build();
    const probe = await probeAudio(file);
    expect(probe.codec).toBe('opus');
    const own = await measureSlice(file, 'ts', 'audio');
    const first = Number(probe.packets[0]!.pts_time);
    const last = probe.packets.at(-1)!;
    expect(own.startS).toBeCloseTo(first, 6);
    expect(own.lengthMs).toBeCloseTo((Number(last.pts_time) + Number(last.duration_time) - first) * 1000, 3);
    expect(own.audio).toEqual({ sampleRate: 48000, channels: probe.channels, frames: probe.packets.length, changes: false, opus: { preSkip: trim, endTrim: expect.any(Number) } });
    const facts = await readSliceFacts(file, 'ts', true);
    expect(facts?.facts).toEqual((await probeSlice(file)).facts);
    expect(facts?.durationMs).toBeCloseTo(own.lengthMs, 3);
  }, 60_000);

  it('the scanner finds the Opus stream (stream_type 0x06, Opus registration) and every PES time ffprobe shows', async () => {
    const file = opus('o-scan.ts', ['-t', '1', '-ac', '2']);
    const scan = await scanTsFile(file);
    const stream = scan.streams.find((s) => s.kind === 'audio')!;
    expect(stream).toMatchObject({ streamType: 0x06, codec: 'opus', channels: 2 });
    const times = new Set((await probeAudio(file)).packets.map((p) => Number(p.pts_time).toFixed(6)));
    for (const unit of stream.units) expect(times.has(unit.pts!.toFixed(6))).toBe(true);
  });

  it('a muxed slice (video and Opus audio in one file) says where the file starts', async () => {
    const file = make('muxed-opus.ts', [...h264WithOpus('testsrc2=s=160x120:r=15:d=2'), '-f', 'mpegts']);
    const audio = await measureSlice(file, 'ts', 'audio');
    const videoMedia = await measureSlice(file, 'ts', 'video');
    expect(audio.fileStartS).toBe(Math.min(audio.startS, videoMedia.startS));
    expect(videoMedia.fileStartS).toBe(audio.fileStartS);
    expect(audio.audio?.channels).toBe(1);
  });

  it('AV1 in MPEG-TS (an AV01 registration, as raw mode may write) is named as what cannot be read, not "no video"', async () => {
    const file = make('av1.ts', [...video('testsrc2=s=64x36:r=15:d=0.2', ['-c:v', 'libaom-av1', '-cpu-used', '8']), '-f', 'mpegts']);
    // ffmpeg 5.1 writes AV1 as private data without a registration: add the AV01 one to its program table.
    const bytes = readFileSync(file);
    const out: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 188) {
      const packet = Buffer.from(bytes.subarray(at, at + 188));
      const pid = ((packet[1]! & 0x1f) << 8) | packet[2]!;
      const es = packet.indexOf(Buffer.from([0x06, 0xe1, 0x00, 0xf0, 0x00]), 5);
      if (pid === 0x1000 && es > 0) {
        packet.writeUInt16BE(packet.readUInt16BE(6) + 6, 6);
        packet[es + 4] = 6;
        out.push(Buffer.concat([packet.subarray(0, es + 5), Buffer.from([0x05, 0x04, ...Buffer.from('AV01')]), packet.subarray(es + 5, 182)]));
      } else out.push(packet);
    }
    const patched = path.join(dir, 'av01.ts');
    writeFileSync(patched, Buffer.concat(out));
    expect((await scanTsFile(patched)).streams).toEqual([expect.objectContaining({ streamType: 0x06, codec: 'av1', kind: 'other' })]);
    await expect(measureSlice(patched, 'ts', 'video')).rejects.toThrow('holds AV1 video in MPEG-TS, which recmerge cannot read yet');
  });

  it('an Opus stream whose access units are damaged is refused, not guessed', async () => {
    const file = opus('o-damaged.ts', ['-t', '1', '-ac', '1']);
    const bytes = readFileSync(file);
    // Overwrite every control header prefix (0x7f 0xe0-0xff) after the PES headers with zeros.
    for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x7f && (bytes[i + 1]! & 0xe0) === 0xe0) bytes[i] = 0;
    const broken = path.join(dir, 'o-broken.ts');
    writeFileSync(broken, bytes);
    await expect(measureSlice(broken, 'ts', 'audio')).rejects.toThrow('holds no Opus access units');
  });
});
