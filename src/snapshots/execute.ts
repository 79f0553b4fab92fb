// Takes one snapshot from the slice that holds the instant: decodes that slice up to the instant (never
// the rest of the recording) and keeps the last frame at or before it (the frame on screen then), turned
// upright, as a JPEG. Demuxer seeking is not used: in MPEG-TS it lands a keyframe late (or past the end),
// which would show a later frame than the name says.
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { SnapshotShot } from '../core/snapshots.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import { uprightFilter } from '../merge/commands.js';
import { partialName } from '../merge/leftovers.js';

/** Only frames this close before the instant are encoded (the last one is kept). */
const WINDOW_S = 1;
const sec = (s: number) => s.toFixed(6);

/**
 * ffmpeg arguments for one snapshot (pure). `window`: encode only the frames of the last second before
 * the instant (the usual case); 'before': every frame before it (a sparse stream); 'first': the first
 * frame (the instant lies before the slice's first decodable frame).
 */
export function snapshotArgs(shot: SnapshotShot, sliceFile: string, outFile: string, attempt: 'window' | 'before' | 'first' = 'window'): string[] {
  const at = Math.max(0, shot.offsetMs / 1000);
  const select =
    attempt === 'window' ? [`trim=start=${sec(Math.max(0, at - WINDOW_S))}:end=${sec(at + 0.0005)}`] : attempt === 'before' ? [`trim=end=${sec(at + 0.0005)}`] : [];
  return [
    '-y', '-loglevel', 'error',
    '-i', sliceFile,
    '-map', '0:v:0', '-vf', [...select, ...uprightFilter(shot.rotation), 'setsar=1'].join(','),
    ...(attempt === 'first' ? ['-frames:v', '1'] : []),
    '-c:v', 'mjpeg', '-q:v', '3', '-update', '1', '-f', 'image2',
    outFile,
  ];
}

const written = (file: string) => stat(file).then((s) => s.size > 0, () => false);

/**
 * Writes one snapshot. Returns a warning when the picture is not the one on screen at the instant: the
 * instant lies before the slice's first decodable frame (a slice cut mid-GOP), so a later picture is used.
 */
export async function takeSnapshot(shot: SnapshotShot, sliceFile: string, finalFile: string, signal?: AbortSignal): Promise<string | null> {
  await mkdir(path.dirname(finalFile), { recursive: true });
  const partial = partialName(finalFile, randomBytes(4).toString('hex'));
  try {
    let used: 'window' | 'before' | 'first' | null = null;
    for (const attempt of ['window', 'before', 'first'] as const) {
      await runFfmpeg(snapshotArgs(shot, sliceFile, partial, attempt), { signal });
      if (await written(partial)) {
        used = attempt;
        break;
      }
    }
    if (!used) throw new Error(`${shot.sliceKey}: no picture could be decoded at ${sec(shot.offsetMs / 1000)} s`);
    await rename(partial, finalFile);
    return used === 'first' ? `${shot.fileName}: nothing of ${shot.sliceKey} can be decoded up to ${sec(shot.offsetMs / 1000)} s into it (it starts mid-GOP); its first decodable picture, a later one, is used` : null;
  } finally {
    await rm(partial, { force: true });
  }
}
