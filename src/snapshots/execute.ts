// Takes one snapshot from the slice that holds the instant: decodes that slice up to the instant (never
// the rest of the recording) and keeps the last frame at or before it (the frame on screen then), turned
// upright, as a JPEG. Demuxer seeking is not used: in MPEG-TS it lands a keyframe late (or past the end),
// which would show a later frame than the name says.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { SnapshotShot } from '../core/snapshots.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import { concatQuote, uprightFilter } from '../merge/commands.js';
import { partialName, workPrefix } from '../merge/leftovers.js';

/** Only frames this close before the instant are encoded (the last one is kept). */
const WINDOW_S = 1;
const sec = (s: number) => s.toFixed(6);

/**
 * ffmpeg arguments for one snapshot (pure). `window`: encode only the frames of the last second before
 * the instant (the usual case); 'before': every frame before it (a sparse stream); 'first': the first
 * frame (the instant lies before the slice's first decodable frame).
 */
export function snapshotArgs(
  shot: SnapshotShot,
  sliceFile: string,
  outFile: string,
  attempt: 'window' | 'before' | 'first' = 'window',
  /** Read a concat list of the previous slice and this one (`sliceFile` is the list): the instant moves by the previous slice's length. */
  withPrevious = false,
): string[] {
  const at = Math.max(0, shot.offsetMs / 1000) + (withPrevious && shot.previous ? shot.previous.ms / 1000 : 0);
  const select =
    attempt === 'window' ? [`trim=start=${sec(Math.max(0, at - WINDOW_S))}:end=${sec(at + 0.0005)}`] : attempt === 'before' ? [`trim=end=${sec(at + 0.0005)}`] : [];
  return [
    '-y', '-loglevel', 'error',
    ...(withPrevious ? ['-f', 'concat', '-safe', '0'] : []),
    '-i', sliceFile,
    '-map', '0:v:0', '-vf', [...select, ...uprightFilter(shot.rotation), 'setsar=1'].join(','),
    ...(attempt === 'first' ? ['-frames:v', '1'] : []),
    '-c:v', 'mjpeg', '-q:v', '3', '-update', '1', '-f', 'image2',
    outFile,
  ];
}

const written = (file: string) => stat(file).then((s) => s.size > 0, () => false);

/**
 * Writes one snapshot. When nothing of the slice can be decoded up to the instant (a slice cut mid-GOP),
 * the previous slice is decoded first (`previousFile` fetches it). Returns a warning when the picture is
 * still not the one on screen at the instant: a later picture, the slice's first decodable one, is used.
 */
export async function takeSnapshot(
  shot: SnapshotShot,
  sliceFile: string,
  finalFile: string,
  signal?: AbortSignal,
  previousFile?: () => Promise<string | null>,
): Promise<string | null> {
  await mkdir(path.dirname(finalFile), { recursive: true });
  const partial = partialName(finalFile, randomBytes(4).toString('hex'));
  const tryOnce = async (input: string, attempt: 'window' | 'before' | 'first', withPrevious = false) => {
    await runFfmpeg(snapshotArgs(shot, input, partial, attempt, withPrevious), { signal });
    return written(partial);
  };
  let workDir: string | null = null;
  try {
    let found = (await tryOnce(sliceFile, 'window')) || (await tryOnce(sliceFile, 'before'));
    const previous = !found && shot.previous && previousFile ? await previousFile() : null;
    if (!found && previous && shot.previous) {
      workDir = await mkdtemp(workPrefix());
      const list = path.join(workDir, 'previous.ffconcat');
      await writeFile(list, `ffconcat version 1.0\nfile ${concatQuote(previous)}\nduration ${sec(shot.previous.ms / 1000)}\nfile ${concatQuote(sliceFile)}\n`);
      found = (await tryOnce(list, 'window', true)) || (await tryOnce(list, 'before', true));
    }
    let concealed: string | null = null;
    if (!found && (await tryOnce(sliceFile, 'first'))) {
      found = true;
      concealed = `${shot.fileName}: nothing of ${shot.sliceKey} can be decoded up to ${sec(shot.offsetMs / 1000)} s into it (it starts mid-GOP${shot.previous ? '' : ' and no slice runs up to it'}); its first decodable picture, a later one, is used`;
    }
    if (!found) throw new Error(`${shot.sliceKey}: no picture could be decoded at ${sec(shot.offsetMs / 1000)} s`);
    await rename(partial, finalFile);
    return concealed;
  } finally {
    await rm(partial, { force: true });
    if (workDir) await rm(workDir, { recursive: true, force: true });
  }
}
