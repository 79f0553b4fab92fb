// The recording service's merge script, written as plain ffmpeg commands: slice by slice, everything
// re-encoded. Every video slice is scaled onto a black canvas at 15 fps and encoded with libx264 veryfast
// for its #EXTINF length, gaps become black clips, the clips are concatenated; every audio slice is decoded,
// gaps become silence, the pieces are concatenated and encoded to AAC; both are muxed into one MP4.
import { execFile } from 'node:child_process';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { BenchSlice } from './recordings.js';

const execFileAsync = promisify(execFile);

export interface ScriptMethodOptions {
  /** This UID's slices (audio and video). */
  slices: BenchSlice[];
  outFile: string;
  workDir: string;
  width: number;
  height: number;
  fps: number;
}

const ffmpeg = (args: string[]) => execFileAsync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { maxBuffer: 1 << 24 });
const sec = (ms: number) => (ms / 1000).toFixed(3);
const quote = (file: string) => `file '${file.replace(/'/g, `'\\''`)}'`;
/** Shorter pieces than this are not worth a clip (under one frame at 15 fps). */
const MIN_GAP_MS = 67;

export async function scriptMethod(o: ScriptMethodOptions): Promise<void> {
  await rm(o.workDir, { recursive: true, force: true });
  await mkdir(o.workDir, { recursive: true });
  const video = o.slices.filter((s) => s.media === 'video').sort((a, b) => a.startMs - b.startMs);
  const audio = o.slices.filter((s) => s.media === 'audio').sort((a, b) => a.startMs - b.startMs);
  const originMs = Math.min(...o.slices.map((s) => s.startMs));
  const endMs = Math.max(...o.slices.map((s) => s.startMs + s.durationMs));
  const canvas = `color=black:s=${o.width}x${o.height}:r=${o.fps}`;
  const x264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-pix_fmt', 'yuv420p', '-r', String(o.fps), '-an'];

  // Video: one clip per slice or gap, in order.
  const clips: string[] = [];
  const blackClip = async (ms: number) => {
    const file = path.join(o.workDir, `v${String(clips.length).padStart(5, '0')}.mp4`);
    await ffmpeg(['-f', 'lavfi', '-i', canvas, '-t', sec(ms), ...x264, file]);
    clips.push(file);
  };
  let cursor = originMs;
  for (const s of video) {
    if (s.startMs - cursor >= MIN_GAP_MS) await blackClip(s.startMs - cursor);
    const file = path.join(o.workDir, `v${String(clips.length).padStart(5, '0')}.mp4`);
    await ffmpeg([
      '-f', 'lavfi', '-i', canvas, '-i', s.path,
      '-filter_complex', `[1:v]setpts=PTS-STARTPTS,scale=${o.width}:${o.height}[s];[0:v][s]overlay=eof_action=repeat[v]`,
      '-map', '[v]', '-t', sec(s.durationMs), ...x264, file,
    ]);
    clips.push(file);
    cursor = Math.max(cursor, s.startMs + s.durationMs);
  }
  if (endMs - cursor >= MIN_GAP_MS) await blackClip(endMs - cursor);
  const videoList = path.join(o.workDir, 'video.txt');
  await writeFile(videoList, clips.map(quote).join('\n') + '\n');
  const videoFile = path.join(o.workDir, 'video.mp4');
  await ffmpeg(['-f', 'concat', '-safe', '0', '-i', videoList, '-c', 'copy', videoFile]);

  // Audio: every slice decoded to PCM, silence for gaps, concatenated, encoded once when muxing.
  const pieces: string[] = [];
  const pcm = ['-c:a', 'pcm_s16le', '-ar', '48000', '-ac', '1'];
  const silence = async (ms: number) => {
    const file = path.join(o.workDir, `a${String(pieces.length).padStart(5, '0')}.wav`);
    await ffmpeg(['-f', 'lavfi', '-i', 'anullsrc=r=48000:cl=mono', '-t', sec(ms), ...pcm, file]);
    pieces.push(file);
  };
  cursor = originMs;
  for (const s of audio) {
    if (s.startMs - cursor >= 1) await silence(s.startMs - cursor);
    const file = path.join(o.workDir, `a${String(pieces.length).padStart(5, '0')}.wav`);
    await ffmpeg(['-i', s.path, '-vn', '-t', sec(s.durationMs), ...pcm, file]);
    pieces.push(file);
    cursor = Math.max(cursor, s.startMs + s.durationMs);
  }
  if (endMs - cursor >= 1) await silence(endMs - cursor);
  const audioList = path.join(o.workDir, 'audio.txt');
  await writeFile(audioList, pieces.map(quote).join('\n') + '\n');

  await ffmpeg([
    '-i', videoFile, '-f', 'concat', '-safe', '0', '-i', audioList,
    '-map', '0:v', '-map', '1:a', '-c:v', 'copy', '-c:a', 'aac', '-b:a', '128k',
    '-movflags', '+faststart', o.outFile,
  ]);
  await rm(o.workDir, { recursive: true, force: true });
}
