// `merge --also-audio` (the service script's `-a`): the .m4a beside each MP4, remuxed from the MP4's own
// audio track (no re-encoding; the recording's audio slices are read once, by the merge).
import { randomBytes } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { probeOutput } from '../ffmpeg/probe.js';
import { runFfmpeg } from '../ffmpeg/runner.js';
import { partialName } from './leftovers.js';

/**
 * The name of the audio file beside a merged MP4, in the same naming style: `…__uid_e_av[_<utc>].mp4` ->
 * `…__uid_e_audio[_<utc>].m4a`; the script's `<uid>_0_merge_av.mp4` -> `<uid>_0_merge.m4a` and
 * `<uid>_<utc>_av.mp4` -> `<uid>_<utc>.m4a`. Null for a name that holds no audio.
 */
export function audioBesideName(fileName: string): string | null {
  const recmerge = /^(.*__uid_e_)av((?:_\d{17})?)\.mp4$/.exec(fileName);
  if (recmerge) return `${recmerge[1]}audio${recmerge[2]}.m4a`;
  const script = /^(.*)_av\.mp4$/.exec(fileName);
  if (script) return `${script[1]}.m4a`;
  return null;
}

export const audioBesideArgs = (mp4: string, outFile: string) => [
  '-y', '-loglevel', 'error', '-i', mp4, '-map', '0:a:0', '-c', 'copy', '-map_metadata', '0', '-movflags', '+faststart', '-f', 'mp4', outFile,
];

/** Writes `finalFile` (under a temporary name first) from the audio track of `mp4`. */
export async function writeAudioBeside(mp4: string, finalFile: string, signal?: AbortSignal): Promise<string> {
  const partial = partialName(finalFile, randomBytes(4).toString('hex'));
  try {
    await runFfmpeg(audioBesideArgs(mp4, partial), { signal });
    const check = await probeOutput(partial, signal);
    if (!check.hasAudio || !(check.durationMs > 0)) throw new Error(`${finalFile}: the written audio file is empty; it was removed`);
    await rename(partial, finalFile);
    return finalFile;
  } finally {
    await rm(partial, { force: true });
  }
}
