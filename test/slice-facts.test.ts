// The plan's facts read in-process (mediabunny) must be the facts ffprobe gives for the same slice, on
// the kinds of slice recorders write, its length must be the merge's measured length, and a slice it
// cannot read must be left to ffprobe (null).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeSlice } from '../src/ffmpeg/probe.js';
import { resolveTool } from '../src/ffmpeg/runner.js';
import { readSliceFacts } from '../src/media/slice-facts.js';
import { measureSlice, probeWebm } from '../src/media/slice-media.js';
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
